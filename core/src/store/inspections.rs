//! Walkthroughs: templates, starting an inspection, answering items, submitting.

use rusqlite::{OptionalExtension, params};

use super::blobs::check_photos_held;
use super::cases::{create_raised_in, record_in};
use super::projection::list_inspections;
use super::{DocKind, Store, Txn, new_id};
use crate::case::{EventKind, HazardSource, NewCase};
use crate::error::{Error, Result, ValidationError};
use crate::inspection::{
    Answer, AnswerValue, Inspection, InspectionStatus, InspectionSummary, Site, check_answer,
    is_failure, new_inspection_doc, read_inspection, record_link, record_submission, write_answer,
};
use crate::rules;
use crate::template::Template;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl Store {
    pub(super) fn install_builtin_templates(&self) -> Result<()> {
        self.with_conn(|c| {
            // Only reads on a normal cold start; writes just the versions this build adds.
            let tx = c.unchecked_transaction()?;
            for json in crate::template::BUILTIN {
                let t = Template::from_json(json)?;
                let known: bool = tx.query_row(
                    "SELECT EXISTS(SELECT 1 FROM templates WHERE id = ?1 AND version = ?2)",
                    params![t.id, t.version],
                    |r| r.get(0),
                )?;
                if !known {
                    insert_template(&tx, &t)?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Adds a template version from its JSON file. An existing id+version is kept as is:
    /// versions are immutable once published.
    pub fn install_template(&self, json: &str) -> Result<Template> {
        let t = Template::from_json(json)?;
        self.with_conn(|c| insert_template(c, &t))?;
        Ok(t)
    }

    /// The newest version of every template.
    pub fn templates(&self) -> Result<Vec<Template>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT body FROM templates t WHERE version = (SELECT max(version) FROM templates WHERE id = t.id)
                 ORDER BY id",
            )?;
            let bodies: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            bodies.iter().map(|b| Ok(Template::from_json(b)?)).collect()
        })
    }

    /// A template by id, at `version` or the newest.
    pub fn template(&self, id: &str, version: Option<i64>) -> Result<Template> {
        self.with_conn(|c| load_template(c, id, version))
    }

    /// Starts a walkthrough of `site`. `previous` links a re-inspection to the one before.
    pub fn start_inspection(
        &self,
        template_id: &str,
        site: Site,
        previous: Option<&str>,
    ) -> Result<String> {
        site.validate()?;
        self.write(|t| {
            let me = t.member()?;
            rules::may_start(Some(&me), &site.grid_id)?;
            let template = load_template(t.conn(), template_id, None)?;
            if let Some(p) = previous {
                inspection_in(t, p)?;
            }
            let id = new_id();
            let now = t.now();
            let doc = t.create(&id, DocKind::Inspection);
            new_inspection_doc(doc, &id, &template, &site, &me.id, previous, now)?;
            t.commit_local(&id)?;
            Ok(id)
        })
    }

    /// Answers one checklist item. Answering again replaces this member's answer.
    pub fn answer(
        &self,
        inspection_id: &str,
        item_id: &str,
        value: AnswerValue,
        note: &str,
        photos: &[String],
    ) -> Result<()> {
        self.write(|t| answer_in(t, inspection_id, item_id, value, note, photos))
    }

    /// Submits the walkthrough. Every failed item raises a hazard case linked to it, with a
    /// rectification deadline by severity; on a re-inspection, hazard cases of the previous
    /// one whose item now passes are resolved. All in one transaction. Returns the new
    /// hazard case ids.
    pub fn submit_inspection(&self, id: &str) -> Result<Vec<String>> {
        self.write(|t| {
            let me = t.member()?;
            let insp = inspection_in(t, id)?;
            rules::may_submit(Some(&me), &insp)?;
            let missing = insp.unanswered();
            if let Some(first) = missing.first() {
                return Err(ValidationError::Unanswered {
                    count: missing.len(),
                    first: first.id.clone(),
                }
                .into());
            }
            let now = t.now();
            let mut raised = Vec::new();
            for (item, answer) in insp.failed_items() {
                if insp.hazard_for(&item.id).is_some() {
                    continue;
                }
                let mut c = NewCase::new(
                    item.hazard_category,
                    item.severity.urgency(),
                    &format!("{} · {}", item.prompt, insp.site.name),
                    &insp.site.grid_id,
                );
                c.description = answer.note.clone();
                c.location = insp.site.location.clone().map(|mut l| {
                    l.address = insp.site.address.clone();
                    l
                });
                c.attachments = answer.photos.clone();
                c.deadline = Some(
                    now + insp.template.rectification_days.for_severity(item.severity) * DAY_MS,
                );
                c.source = Some(HazardSource {
                    inspection_id: id.to_string(),
                    item_id: item.id.clone(),
                });
                let case_id = create_raised_in(t, &c)?;
                let doc = t.doc(id)?.ok_or_else(|| not_found(id))?;
                record_link(doc, "hazards", &item.id, &case_id)?;
                raised.push(case_id);
            }
            if let Some(prev_id) = &insp.previous_id {
                let prev = inspection_in(t, prev_id)?;
                for (item_id, cases) in &prev.hazards {
                    let Some(item) = insp.template.item(item_id) else {
                        continue;
                    };
                    let Some(now_answer) = insp.answer(item_id) else {
                        continue;
                    };
                    if is_failure(item, &now_answer.winner().value) {
                        continue;
                    }
                    for case_id in cases {
                        let open = match t.doc(case_id)? {
                            Some(doc) => crate::case::read_case(doc, case_id)?.status.is_open(),
                            None => false,
                        };
                        if open {
                            let note =
                                format!("整改已复查通过 Verified rectified at re-inspection {id}");
                            record_in(t, case_id, EventKind::Resolved { note })?;
                        }
                        let doc = t.doc(id)?.ok_or_else(|| not_found(id))?;
                        record_link(doc, "verified", item_id, case_id)?;
                    }
                }
            }
            let doc = t.doc(id)?.ok_or_else(|| not_found(id))?;
            record_submission(doc, &me.id, now)?;
            t.commit_local(id)?;
            Ok(raised)
        })
    }

    pub fn inspection(&self, id: &str) -> Result<Inspection> {
        self.read(id, |kind, doc| match kind {
            Some(DocKind::Inspection) => read_inspection(doc, id),
            _ => Err(not_found(id)),
        })
        .map_err(|e| match e {
            Error::NotFound { id, .. } => not_found(&id),
            other => other,
        })
    }

    /// Whether the signed-in member may submit walkthrough `id` now, and what is missing.
    pub fn inspection_readiness(&self, id: &str) -> Result<rules::Readiness> {
        let me = self.member()?;
        Ok(rules::inspection_readiness(
            me.as_ref(),
            &self.inspection(id)?,
        ))
    }

    pub fn inspections(
        &self,
        status: Option<InspectionStatus>,
        limit: i64,
    ) -> Result<Vec<InspectionSummary>> {
        self.with_conn(|c| list_inspections(c, status, limit))
    }
}

fn not_found(id: &str) -> Error {
    Error::NotFound {
        kind: "inspection",
        id: id.to_string(),
    }
}

fn inspection_in(t: &mut Txn<'_>, id: &str) -> Result<Inspection> {
    let doc = t.doc(id)?.ok_or_else(|| not_found(id))?;
    if crate::doc::kind_of(doc).as_deref() != Some("inspection") {
        return Err(not_found(id));
    }
    read_inspection(doc, id)
}

fn insert_template(c: &rusqlite::Connection, t: &Template) -> Result<()> {
    c.execute(
        "INSERT INTO templates(id, version, body) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![t.id, t.version, t.to_json()],
    )?;
    Ok(())
}

fn load_template(c: &rusqlite::Connection, id: &str, version: Option<i64>) -> Result<Template> {
    let body: Option<String> = c
        .query_row(
            "SELECT body FROM templates WHERE id = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1",
            params![id, version],
            |r| r.get(0),
        )
        .optional()?;
    let body = body.ok_or_else(|| Error::NotFound {
        kind: "template",
        id: id.to_string(),
    })?;
    Ok(Template::from_json(&body)?)
}

/// Answers one checklist item inside `t`.
pub(super) fn answer_in(
    t: &mut Txn<'_>,
    inspection_id: &str,
    item_id: &str,
    value: AnswerValue,
    note: &str,
    photos: &[String],
) -> Result<()> {
    let me = t.member()?;
    let insp = inspection_in(t, inspection_id)?;
    rules::may_answer(Some(&me), &insp)?;
    let item = insp
        .template
        .item(item_id)
        .ok_or_else(|| ValidationError::UnknownItem(item_id.to_string()))?;
    check_answer(item, &value, note, photos)?;
    check_photos_held(t, photos.iter().map(String::as_str))?;
    let answer = Answer {
        item_id: item_id.to_string(),
        value,
        note: note.to_string(),
        photos: photos.to_vec(),
        by: me.id.clone(),
        at: t.now(),
    };
    let doc = t
        .doc(inspection_id)?
        .ok_or_else(|| not_found(inspection_id))?;
    write_answer(doc, &answer)?;
    t.commit_local(inspection_id)
}
