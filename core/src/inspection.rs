//! Inspections: a walkthrough of one site against a frozen copy of a checklist template.
//!
//! Document layout (root): `kind`="inspection", `schema`, `id`, `template` (the template as
//! JSON, frozen), `template_id`, `template_version`, `grid_id`, `site` (map), `started_by`,
//! `started_at`, `previous_id`, and four maps: `inspectors` (member → joined at), `answers`
//! (item → answer map), `submissions` (member → submitted at), `hazards` and `verified`
//! (item → case id).
//!
//! Every answer is written as a fresh map at `answers[item]`. Answers to different items
//! merge; two concurrent answers to the same item become an Automerge conflict, in which
//! both stay readable and one wins the same way on every replica.

use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, transaction::Transactable};
use serde::{Deserialize, Serialize};

use crate::case::{Datum, Location, check_len, check_photo_hash, check_required};
use crate::doc::{Reader, SCHEMA, am_err, put_opt};
use crate::error::{Result, ValidationError};
use crate::template::{AnswerKind, ChecklistItem, Template};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Site {
    pub name: String,
    pub address: Option<String>,
    pub grid_id: String,
    pub location: Option<Location>,
}

impl Site {
    pub fn new(name: &str, grid_id: &str) -> Self {
        Site {
            name: name.to_string(),
            address: None,
            grid_id: grid_id.to_string(),
            location: None,
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        check_required("site name", &self.name, 200)?;
        check_required("grid", &self.grid_id, 200)?;
        if let Some(a) = &self.address {
            check_len("address", a, 200)?;
        }
        if let Some(l) = &self.location {
            l.validate()?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum AnswerValue {
    Pass,
    Fail,
    NotApplicable,
    Yes,
    No,
    Number(f64),
    Text(String),
    /// The photos attached to the answer are the answer.
    Photo,
}

impl AnswerValue {
    fn tag(&self) -> &'static str {
        match self {
            AnswerValue::Pass => "pass",
            AnswerValue::Fail => "fail",
            AnswerValue::NotApplicable => "na",
            AnswerValue::Yes => "yes",
            AnswerValue::No => "no",
            AnswerValue::Number(_) => "number",
            AnswerValue::Text(_) => "text",
            AnswerValue::Photo => "photo",
        }
    }

    fn describe(&self) -> String {
        match self {
            AnswerValue::Number(_) => "a number".into(),
            AnswerValue::Text(_) => "text".into(),
            AnswerValue::Photo => "a photo".into(),
            other => format!("'{}'", other.tag()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub item_id: String,
    pub value: AnswerValue,
    pub note: String,
    pub photos: Vec<String>,
    pub by: String,
    pub at: i64,
}

/// Checks an answer against the item it answers.
pub fn check_answer(
    item: &ChecklistItem,
    value: &AnswerValue,
    note: &str,
    photos: &[String],
) -> Result<(), ValidationError> {
    use AnswerValue as V;
    let fits = match (item.answer, value) {
        (AnswerKind::PassFail, V::Pass | V::Fail | V::NotApplicable) => true,
        (AnswerKind::YesNo, V::Yes | V::No | V::NotApplicable) => true,
        (AnswerKind::Number, V::Number(n)) => {
            if !n.is_finite() {
                return Err(ValidationError::NotFinite("the answer"));
            }
            true
        }
        (AnswerKind::Text, V::Text(t)) => {
            check_required("answer", t, 2000)?;
            true
        }
        (AnswerKind::Photo, V::Photo) => true,
        _ => false,
    };
    if !fits {
        return Err(ValidationError::WrongAnswerKind {
            item: item.id.clone(),
            expected: item.answer.as_str().to_string(),
            given: value.describe(),
        });
    }
    check_len("note", note, 2000)?;
    for p in photos {
        check_photo_hash(p)?;
    }
    if (item.photo_required || item.answer == AnswerKind::Photo)
        && photos.is_empty()
        && *value != V::NotApplicable
    {
        return Err(ValidationError::PhotoRequired(item.id.clone()));
    }
    Ok(())
}

/// Whether this answer to this item is a hazard.
pub fn is_failure(item: &ChecklistItem, value: &AnswerValue) -> bool {
    match value {
        AnswerValue::Fail => true,
        AnswerValue::Yes => item.fails_when == Some(true),
        AnswerValue::No => item.fails_when == Some(false),
        AnswerValue::Number(n) => {
            item.fail_below.is_some_and(|b| *n < b) || item.fail_above.is_some_and(|a| *n > a)
        }
        _ => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectionStatus {
    InProgress,
    Submitted,
}

impl InspectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InspectionStatus::InProgress => "in_progress",
            InspectionStatus::Submitted => "submitted",
        }
    }
}

/// The answers to one item: the winning one first, then any concurrent ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemAnswers {
    pub item_id: String,
    pub answers: Vec<Answer>,
}

impl ItemAnswers {
    pub fn winner(&self) -> &Answer {
        &self.answers[0]
    }
    pub fn is_conflict(&self) -> bool {
        self.answers.len() > 1
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    pub id: String,
    pub template: Template,
    pub site: Site,
    pub started_by: String,
    pub started_at: i64,
    pub previous_id: Option<String>,
    pub inspectors: Vec<String>,
    /// In template order; items with no answer yet are absent.
    pub answers: Vec<ItemAnswers>,
    pub submitted_by: Vec<String>,
    pub submitted_at: Option<i64>,
    pub status: InspectionStatus,
    /// Item → hazard case(s) raised from it. Two offline submissions may each raise one.
    pub hazards: Vec<(String, Vec<String>)>,
    /// Item → hazard case of the previous inspection that this one verified as rectified.
    pub verified: Vec<(String, String)>,
}

impl Inspection {
    pub fn answer(&self, item: &str) -> Option<&ItemAnswers> {
        self.answers.iter().find(|a| a.item_id == item)
    }

    pub fn unanswered(&self) -> Vec<&ChecklistItem> {
        self.template
            .items()
            .filter(|i| self.answer(&i.id).is_none())
            .collect()
    }

    /// Items whose winning answer is a hazard.
    pub fn failed_items(&self) -> Vec<(&ChecklistItem, &Answer)> {
        self.template
            .items()
            .filter_map(|i| {
                let a = self.answer(&i.id)?.winner();
                is_failure(i, &a.value).then_some((i, a))
            })
            .collect()
    }

    pub fn conflicts(&self) -> usize {
        self.answers.iter().filter(|a| a.is_conflict()).count()
    }

    pub fn hazard_for(&self, item: &str) -> Option<&[String]> {
        self.hazards
            .iter()
            .find(|(i, _)| i == item)
            .map(|(_, c)| c.as_slice())
    }
}

/// One row of the "inspections" list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InspectionSummary {
    pub id: String,
    pub title: String,
    pub site_name: String,
    pub grid_id: String,
    pub status: InspectionStatus,
    pub answered: i64,
    pub total: i64,
    pub failed: i64,
    pub conflicts: i64,
    pub started_at: i64,
    pub updated_at: i64,
}

pub(crate) fn new_inspection_doc(
    doc: &mut AutoCommit,
    id: &str,
    t: &Template,
    site: &Site,
    by: &str,
    previous: Option<&str>,
    now: i64,
) -> Result<()> {
    doc.put(ROOT, "kind", "inspection").map_err(am_err)?;
    doc.put(ROOT, "schema", SCHEMA).map_err(am_err)?;
    doc.put(ROOT, "id", id).map_err(am_err)?;
    doc.put(ROOT, "template", t.to_json()).map_err(am_err)?;
    doc.put(ROOT, "template_id", t.id.as_str())
        .map_err(am_err)?;
    doc.put(ROOT, "template_version", t.version)
        .map_err(am_err)?;
    doc.put(ROOT, "grid_id", site.grid_id.as_str())
        .map_err(am_err)?;
    let s = doc.put_object(ROOT, "site", ObjType::Map).map_err(am_err)?;
    doc.put(&s, "name", site.name.as_str()).map_err(am_err)?;
    put_opt(doc, &s, "address", site.address.as_deref())?;
    if let Some(l) = &site.location {
        doc.put(&s, "lat", l.lat).map_err(am_err)?;
        doc.put(&s, "lon", l.lon).map_err(am_err)?;
        put_opt(doc, &s, "accuracy_m", l.accuracy_m)?;
        doc.put(&s, "datum", l.datum.as_str()).map_err(am_err)?;
    }
    doc.put(ROOT, "started_by", by).map_err(am_err)?;
    doc.put(ROOT, "started_at", now).map_err(am_err)?;
    put_opt(doc, &ROOT, "previous_id", previous)?;
    for m in [
        "inspectors",
        "answers",
        "submissions",
        "hazards",
        "verified",
    ] {
        doc.put_object(ROOT, m, ObjType::Map).map_err(am_err)?;
    }
    join(doc, by, now)
}

fn root_map(doc: &mut AutoCommit, key: &str) -> Result<ObjId> {
    match doc.get(ROOT, key).map_err(am_err)? {
        Some((automerge::Value::Object(ObjType::Map), id)) => Ok(id),
        _ => doc.put_object(ROOT, key, ObjType::Map).map_err(am_err),
    }
}

/// Adds an inspector (first answer by a new member joins them).
pub(crate) fn join(doc: &mut AutoCommit, member: &str, now: i64) -> Result<()> {
    let m = root_map(doc, "inspectors")?;
    if doc.get(&m, member).map_err(am_err)?.is_none() {
        doc.put(&m, member, now).map_err(am_err)?;
    }
    Ok(())
}

pub(crate) fn write_answer(doc: &mut AutoCommit, a: &Answer) -> Result<()> {
    join(doc, &a.by, a.at)?;
    let answers = root_map(doc, "answers")?;
    let m = doc
        .put_object(&answers, a.item_id.as_str(), ObjType::Map)
        .map_err(am_err)?;
    doc.put(&m, "value", a.value.tag()).map_err(am_err)?;
    match &a.value {
        AnswerValue::Number(n) => doc.put(&m, "number", *n).map_err(am_err)?,
        AnswerValue::Text(t) => doc.put(&m, "text", t.as_str()).map_err(am_err)?,
        _ => {}
    }
    doc.put(&m, "note", a.note.as_str()).map_err(am_err)?;
    let photos = doc
        .put_object(&m, "photos", ObjType::List)
        .map_err(am_err)?;
    for (i, p) in a.photos.iter().enumerate() {
        doc.insert(&photos, i, p.as_str()).map_err(am_err)?;
    }
    doc.put(&m, "by", a.by.as_str()).map_err(am_err)?;
    doc.put(&m, "at", a.at).map_err(am_err)
}

pub(crate) fn record_submission(doc: &mut AutoCommit, member: &str, now: i64) -> Result<()> {
    let m = root_map(doc, "submissions")?;
    doc.put(&m, member, now).map_err(am_err)
}

pub(crate) fn record_link(
    doc: &mut AutoCommit,
    map: &str,
    item: &str,
    case_id: &str,
) -> Result<()> {
    let m = root_map(doc, map)?;
    doc.put(&m, item, case_id).map_err(am_err)
}

fn read_answer(r: &Reader<'_>, item: &str, m: &ObjId) -> Result<Answer> {
    let value = match r.str(m, "value")?.as_str() {
        "pass" => AnswerValue::Pass,
        "fail" => AnswerValue::Fail,
        "na" => AnswerValue::NotApplicable,
        "yes" => AnswerValue::Yes,
        "no" => AnswerValue::No,
        "number" => AnswerValue::Number(
            r.opt_f64(m, "number")?
                .ok_or_else(|| r.bad("number answer without a number"))?,
        ),
        "text" => AnswerValue::Text(r.str(m, "text")?),
        "photo" => AnswerValue::Photo,
        other => return Err(r.bad(format!("unknown answer value '{other}'"))),
    };
    let photos = match r.opt_obj(m, "photos", ObjType::List)? {
        Some(l) => r.list_strs(&l)?,
        None => Vec::new(),
    };
    Ok(Answer {
        item_id: item.to_string(),
        value,
        note: r.opt_str(m, "note")?.unwrap_or_default(),
        photos,
        by: r.str(m, "by")?,
        at: r.i64(m, "at")?,
    })
}

pub(crate) fn read_inspection(doc: &AutoCommit, id: &str) -> Result<Inspection> {
    let r = Reader::new(doc, id);
    if r.opt_str(&ROOT, "kind")?.as_deref() != Some("inspection") {
        return Err(r.bad("not an inspection document"));
    }
    if r.str(&ROOT, "id")? != id {
        return Err(r.bad("the id inside the document does not match"));
    }
    let template = Template::from_json(&r.str(&ROOT, "template")?).map_err(|e| r.bad(e))?;
    let s = r.obj(&ROOT, "site", ObjType::Map)?;
    let location = match (r.opt_f64(&s, "lat")?, r.opt_f64(&s, "lon")?) {
        (Some(lat), Some(lon)) => Some(Location {
            lat,
            lon,
            accuracy_m: r.opt_f64(&s, "accuracy_m")?,
            datum: Datum::parse(&r.opt_str(&s, "datum")?.unwrap_or_else(|| "wgs84".into()))
                .map_err(|e| r.bad(e))?,
            address: r.opt_str(&s, "address")?,
        }),
        _ => None,
    };
    let site = Site {
        name: r.str(&s, "name")?,
        address: r.opt_str(&s, "address")?,
        grid_id: r.str(&ROOT, "grid_id")?,
        location,
    };
    let map = |key: &str| r.obj(&ROOT, key, ObjType::Map);
    let inspectors_obj = map("inspectors")?;
    let mut inspectors: Vec<(i64, String)> = Vec::new();
    for k in r.keys(&inspectors_obj) {
        inspectors.push((r.opt_i64(&inspectors_obj, &k)?.unwrap_or(0), k));
    }
    inspectors.sort();
    let answers_obj = map("answers")?;
    let mut answers = Vec::new();
    for item in template.items() {
        let maps = r.all_maps(&answers_obj, &item.id)?;
        if maps.is_empty() {
            continue;
        }
        let list = maps
            .iter()
            .map(|m| read_answer(&r, &item.id, m))
            .collect::<Result<Vec<_>>>()?;
        answers.push(ItemAnswers {
            item_id: item.id.clone(),
            answers: list,
        });
    }
    let subs_obj = map("submissions")?;
    let mut submitted: Vec<(i64, String)> = Vec::new();
    for k in r.keys(&subs_obj) {
        submitted.push((r.opt_i64(&subs_obj, &k)?.unwrap_or(0), k));
    }
    submitted.sort();
    let hazards_obj = map("hazards")?;
    let mut hazards = Vec::new();
    for k in r.keys(&hazards_obj) {
        hazards.push((k.clone(), r.all_strs(&hazards_obj, &k)?));
    }
    let verified_obj = map("verified")?;
    let mut verified = Vec::new();
    for k in r.keys(&verified_obj) {
        verified.push((k.clone(), r.str(&verified_obj, &k)?));
    }
    Ok(Inspection {
        id: id.to_string(),
        template,
        site,
        started_by: r.str(&ROOT, "started_by")?,
        started_at: r.i64(&ROOT, "started_at")?,
        previous_id: r.opt_str(&ROOT, "previous_id")?,
        inspectors: inspectors.into_iter().map(|(_, m)| m).collect(),
        answers,
        status: if submitted.is_empty() {
            InspectionStatus::InProgress
        } else {
            InspectionStatus::Submitted
        },
        submitted_at: submitted.first().map(|(t, _)| *t),
        submitted_by: submitted.into_iter().map(|(_, m)| m).collect(),
        hazards,
        verified,
    })
}
