//! Typed reading and writing of Automerge documents. Every document read goes through
//! [`Reader`], so a document that does not follow its schema gives a `BadDocument` error
//! naming the field instead of a panic.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use automerge::{
    AutoCommit, ObjId, ObjType, ReadDoc, ScalarValue, Value, ValueRef, transaction::Transactable,
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
    /// Each map's fields, read in one pass the first time one of them is asked for: a seek
    /// per field was most of the cost of reading a document.
    maps: RefCell<HashMap<ObjId, Rc<Fields>>>,
}

/// A map's fields as its winning values; objects with their ids.
type Fields = HashMap<String, Field>;

#[derive(Clone)]
enum Field {
    Scalar(ScalarValue),
    Object(ObjType, ObjId),
}

impl Field {
    fn of(value: ValueRef<'_>, id: impl FnOnce() -> ObjId) -> Field {
        match value.into_value() {
            Value::Scalar(s) => Field::Scalar(s.into_owned()),
            Value::Object(t) => Field::Object(t, id()),
        }
    }
}

impl<'a> Reader<'a> {
    pub fn new(doc: &'a AutoCommit, id: &'a str) -> Self {
        Reader {
            doc,
            id,
            maps: RefCell::new(HashMap::new()),
        }
    }

    fn fields(&self, obj: &ObjId) -> Result<Rc<Fields>> {
        if let Some(f) = self.maps.borrow().get(obj) {
            return Ok(f.clone());
        }
        match self.doc.object_type(obj) {
            Ok(ObjType::Map | ObjType::Table) => {}
            Ok(t) => return Err(self.bad(format!("expected a map, found a {t:?}"))),
            Err(e) => return Err(self.bad(e)),
        }
        let fields: Fields = self
            .doc
            .map_range(obj, ..)
            .map(|item| {
                let field = Field::of(item.value.clone(), || item.id());
                (item.key.into_owned(), field)
            })
            .collect();
        let fields = Rc::new(fields);
        self.maps.borrow_mut().insert(obj.clone(), fields.clone());
        Ok(fields)
    }

    fn field(&self, obj: &ObjId, key: &str) -> Result<Option<Field>> {
        Ok(self.fields(obj)?.get(key).cloned())
    }

    /// Whether `key` holds anything in map `obj`.
    pub fn has(&self, obj: &ObjId, key: &str) -> Result<bool> {
        Ok(self.fields(obj)?.contains_key(key))
    }

    /// The entries of list `list`, in order: scalars, or objects with their ids.
    fn items(&self, list: &ObjId) -> Vec<Field> {
        self.doc
            .list_range(list, ..)
            .map(|item| Field::of(item.value.clone(), || item.id()))
            .collect()
    }

    pub fn bad(&self, reason: impl std::fmt::Display) -> Error {
        bad_doc(self.id, reason)
    }

    fn scalar(&self, obj: &ObjId, key: &str) -> Result<Option<ScalarValue>> {
        match self.field(obj, key)? {
            None | Some(Field::Scalar(ScalarValue::Null)) => Ok(None),
            Some(Field::Scalar(s)) => Ok(Some(s)),
            Some(Field::Object(..)) => {
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
        match self.field(obj, key)? {
            None => Ok(None),
            Some(Field::Object(t, id)) if t == want => Ok(Some(id)),
            Some(_) => Err(self.bad(format!("'{key}' should be a {want:?}"))),
        }
    }

    /// The maps of list `list`, in order; an entry that is not a map is an error naming
    /// its position.
    pub fn list_maps(&self, list: &ObjId, what: &str) -> Result<Vec<ObjId>> {
        self.items(list)
            .into_iter()
            .enumerate()
            .map(|(i, f)| match f {
                Field::Object(ObjType::Map, id) => Ok(id),
                _ => Err(self.bad(format!("{what} {i} is not a map"))),
            })
            .collect()
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
        self.items(list)
            .into_iter()
            .map(|f| match f {
                Field::Scalar(ScalarValue::Str(s)) => Ok(s.to_string()),
                Field::Scalar(other) => {
                    Err(self.bad(format!("list entry should be text, found {other}")))
                }
                Field::Object(..) => Err(self.bad("list entry should be text")),
            })
            .collect()
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
