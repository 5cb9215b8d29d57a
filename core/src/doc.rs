//! Typed reading and writing of Automerge documents. Every document read goes through
//! [`Reader`], so a document that does not follow its schema gives a `BadDocument` error
//! naming the field instead of a panic.

use automerge::{
    AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value, transaction::Transactable,
};

use crate::error::{Error, Result, bad_doc};

/// The schema version written into every document's root as `schema`.
pub(crate) const SCHEMA: i64 = 1;

pub(crate) fn am_err(e: automerge::AutomergeError) -> Error {
    Error::Storage(format!("document engine: {e}"))
}

pub(crate) struct Reader<'a> {
    pub doc: &'a AutoCommit,
    pub id: &'a str,
}

impl<'a> Reader<'a> {
    pub fn new(doc: &'a AutoCommit, id: &'a str) -> Self {
        Reader { doc, id }
    }

    pub fn bad(&self, reason: impl std::fmt::Display) -> Error {
        bad_doc(self.id, reason)
    }

    fn scalar(&self, obj: &ObjId, key: &str) -> Result<Option<ScalarValue>> {
        match self.doc.get(obj, key).map_err(|e| self.bad(e))? {
            None => Ok(None),
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Null => Ok(None),
                other => Ok(Some(other.clone())),
            },
            Some((Value::Object(_), _)) => {
                Err(self.bad(format!("'{key}' should be a value, not an object")))
            }
        }
    }

    pub fn opt_str(&self, obj: &ObjId, key: &str) -> Result<Option<String>> {
        match self.scalar(obj, key)? {
            None => Ok(None),
            Some(ScalarValue::Str(s)) => Ok(Some(s.to_string())),
            Some(other) => Err(self.bad(format!("'{key}' should be text, found {other}"))),
        }
    }

    pub fn str(&self, obj: &ObjId, key: &str) -> Result<String> {
        self.opt_str(obj, key)?
            .ok_or_else(|| self.bad(format!("'{key}' is missing")))
    }

    pub fn opt_i64(&self, obj: &ObjId, key: &str) -> Result<Option<i64>> {
        match self.scalar(obj, key)? {
            None => Ok(None),
            Some(ScalarValue::Int(i)) | Some(ScalarValue::Timestamp(i)) => Ok(Some(i)),
            Some(ScalarValue::Uint(u)) => i64::try_from(u)
                .map(Some)
                .map_err(|_| self.bad(format!("'{key}' is out of range"))),
            Some(other) => Err(self.bad(format!("'{key}' should be an integer, found {other}"))),
        }
    }

    pub fn i64(&self, obj: &ObjId, key: &str) -> Result<i64> {
        self.opt_i64(obj, key)?
            .ok_or_else(|| self.bad(format!("'{key}' is missing")))
    }

    pub fn opt_f64(&self, obj: &ObjId, key: &str) -> Result<Option<f64>> {
        match self.scalar(obj, key)? {
            None => Ok(None),
            Some(ScalarValue::F64(f)) if f.is_finite() => Ok(Some(f)),
            Some(ScalarValue::Int(i)) => Ok(Some(i as f64)),
            Some(other) => {
                Err(self.bad(format!("'{key}' should be a finite number, found {other}")))
            }
        }
    }

    pub fn opt_obj(&self, obj: &ObjId, key: &str, want: ObjType) -> Result<Option<ObjId>> {
        match self.doc.get(obj, key).map_err(|e| self.bad(e))? {
            None => Ok(None),
            Some((Value::Object(t), id)) if t == want => Ok(Some(id)),
            Some(_) => Err(self.bad(format!("'{key}' should be a {want:?}"))),
        }
    }

    pub fn obj(&self, obj: &ObjId, key: &str, want: ObjType) -> Result<ObjId> {
        self.opt_obj(obj, key, want)?
            .ok_or_else(|| self.bad(format!("'{key}' is missing")))
    }

    /// Every concurrent value written at `key` whose value is a map, winner first.
    pub fn all_maps(&self, obj: &ObjId, key: &str) -> Result<Vec<ObjId>> {
        let all = self.doc.get_all(obj, key).map_err(|e| self.bad(e))?;
        let winner = self
            .doc
            .get(obj, key)
            .map_err(|e| self.bad(e))?
            .map(|(_, id)| id);
        let mut maps: Vec<ObjId> = all
            .into_iter()
            .filter_map(|(v, id)| matches!(v, Value::Object(ObjType::Map)).then_some(id))
            .collect();
        if let Some(w) = winner
            && let Some(pos) = maps.iter().position(|m| *m == w)
        {
            let w = maps.remove(pos);
            maps.insert(0, w);
        }
        Ok(maps)
    }

    /// Every concurrent text value at `key`, winner first.
    pub fn all_strs(&self, obj: &ObjId, key: &str) -> Result<Vec<String>> {
        let winner = self.opt_str(obj, key)?;
        let mut out: Vec<String> = Vec::new();
        if let Some(w) = &winner {
            out.push(w.clone());
        }
        let all = self.doc.get_all(obj, key).map_err(|e| self.bad(e))?;
        let mut seen_winner = false;
        for (v, _) in all {
            if let Value::Scalar(s) = v
                && let ScalarValue::Str(s) = s.as_ref()
            {
                if !seen_winner && winner.as_deref() == Some(s.as_str()) {
                    seen_winner = true;
                    continue;
                }
                out.push(s.to_string());
            }
        }
        Ok(out)
    }

    pub fn list_strs(&self, list: &ObjId) -> Result<Vec<String>> {
        let n = self.doc.length(list);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            match self.doc.get(list, i).map_err(|e| self.bad(e))? {
                Some((Value::Scalar(s), _)) => match s.as_ref() {
                    ScalarValue::Str(s) => out.push(s.to_string()),
                    other => {
                        return Err(self.bad(format!("list entry should be text, found {other}")));
                    }
                },
                _ => return Err(self.bad("list entry should be text")),
            }
        }
        Ok(out)
    }

    pub fn keys(&self, map: &ObjId) -> Vec<String> {
        self.doc.keys(map).collect()
    }
}

/// Writes an optional value; `None` writes nothing, so absent stays absent.
pub(crate) fn put_opt<V: Into<ScalarValue>>(
    doc: &mut AutoCommit,
    obj: &ObjId,
    key: &str,
    v: Option<V>,
) -> Result<()> {
    match v {
        Some(v) => doc.put(obj, key, v.into()).map_err(am_err),
        None => Ok(()),
    }
}

/// Kind of a document read from its root, or `None` if the root has not arrived yet.
pub(crate) fn kind_of(doc: &AutoCommit) -> Option<String> {
    match doc.get(automerge::ROOT, "kind") {
        Ok(Some((Value::Scalar(s), _))) => s.as_str().map(str::to_string),
        _ => None,
    }
}
