//! Checklist templates: versioned data files, not code. A template is frozen into each
//! inspection started from it, so editing a template never changes past walkthroughs.

use serde::{Deserialize, Serialize};

use crate::case::{Category, Urgency};
use crate::error::ValidationError;

/// The templates that ship with the app.
pub const BUILTIN: &[&str] = &[
    include_str!("../templates/residential-fire-safety.json"),
    include_str!("../templates/shop-fire-safety.json"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// pass / fail / not applicable
    PassFail,
    /// yes / no; `fails_when` says which one is a hazard
    YesNo,
    Number,
    Text,
    /// The answer is the photo itself.
    Photo,
}

impl AnswerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerKind::PassFail => "pass/fail",
            AnswerKind::YesNo => "yes/no",
            AnswerKind::Number => "a number",
            AnswerKind::Text => "text",
            AnswerKind::Photo => "a photo",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Major,
    Minor,
}

impl Severity {
    /// How urgent the hazard case raised from a failed item is.
    pub fn urgency(self) -> Urgency {
        match self {
            Severity::Critical => Urgency::Urgent,
            Severity::Major => Urgency::Normal,
            Severity::Minor => Urgency::Low,
        }
    }
}

/// Days allowed for rectification, by severity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RectificationDays {
    pub critical: i64,
    pub major: i64,
    pub minor: i64,
}

impl RectificationDays {
    pub fn for_severity(&self, s: Severity) -> i64 {
        match s {
            Severity::Critical => self.critical,
            Severity::Major => self.major,
            Severity::Minor => self.minor,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub id: String,
    pub prompt: String,
    #[serde(default)]
    pub prompt_en: String,
    pub answer: AnswerKind,
    pub severity: Severity,
    #[serde(default)]
    pub guidance: Option<String>,
    #[serde(default)]
    pub photo_required: bool,
    /// For yes/no items: the answer that is a hazard.
    #[serde(default)]
    pub fails_when: Option<bool>,
    /// For number items: values below this fail.
    #[serde(default)]
    pub fail_below: Option<f64>,
    /// For number items: values above this fail.
    #[serde(default)]
    pub fail_above: Option<f64>,
    /// What kind of case a failure raises.
    #[serde(default = "default_hazard")]
    pub hazard_category: Category,
}

fn default_hazard() -> Category {
    Category::FireHazard
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub title_en: String,
    pub items: Vec<ChecklistItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    pub version: i64,
    pub title: String,
    #[serde(default)]
    pub title_en: String,
    pub rectification_days: RectificationDays,
    pub sections: Vec<Section>,
}

impl Template {
    /// Parses and checks a template file.
    pub fn from_json(json: &str) -> Result<Template, ValidationError> {
        let t: Template =
            serde_json::from_str(json).map_err(|e| ValidationError::Template(e.to_string()))?;
        t.validate()?;
        Ok(t)
    }

    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn builtin() -> Vec<Template> {
        BUILTIN
            .iter()
            .filter_map(|j| Template::from_json(j).ok())
            .collect()
    }

    pub fn items(&self) -> impl Iterator<Item = &ChecklistItem> {
        self.sections.iter().flat_map(|s| s.items.iter())
    }

    pub fn item(&self, id: &str) -> Option<&ChecklistItem> {
        self.items().find(|i| i.id == id)
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        let bad = |m: String| Err(ValidationError::Template(m));
        if self.id.trim().is_empty() || self.title.trim().is_empty() {
            return bad("id and title are required".into());
        }
        if self.version < 1 {
            return bad(format!("version must be 1 or more, not {}", self.version));
        }
        let d = &self.rectification_days;
        if [d.critical, d.major, d.minor]
            .iter()
            .any(|&x| !(1..=365).contains(&x))
        {
            return bad("rectification days must be between 1 and 365".into());
        }
        let mut seen = std::collections::HashSet::new();
        for s in &self.sections {
            for i in &s.items {
                if i.id.trim().is_empty() || i.prompt.trim().is_empty() {
                    return bad(format!("an item in section '{}' has no id or prompt", s.id));
                }
                if !seen.insert(i.id.as_str()) {
                    return bad(format!("item id '{}' appears twice", i.id));
                }
                if i.answer == AnswerKind::YesNo && i.fails_when.is_none() {
                    return bad(format!(
                        "yes/no item '{}' must say which answer fails",
                        i.id
                    ));
                }
            }
        }
        if seen.is_empty() {
            return bad("a template needs at least one item".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_parse_and_cover_the_walkthrough() {
        assert_eq!(Template::builtin().len(), BUILTIN.len());
        let res = &Template::builtin()[0];
        for id in [
            "fire_lane_clear",
            "flying_wire_charging",
            "stairwell_debris",
            "extinguishers",
            "gas_modification",
            "wiring_safe",
            "evacuation_signs",
        ] {
            assert!(res.item(id).is_some(), "missing {id}");
        }
    }

    #[test]
    fn duplicate_item_ids_are_rejected() {
        let mut t = Template::builtin()[0].clone();
        let dup = t.sections[0].items[0].clone();
        t.sections[0].items.push(dup);
        assert!(matches!(t.validate(), Err(ValidationError::Template(_))));
        assert!(Template::from_json("{\"id\": 3}").is_err());
    }
}
