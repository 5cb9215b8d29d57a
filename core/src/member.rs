use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// What a member does in the grid; decides which actions core allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Courier,
    GridMember,
    GridLead,
    Responder,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Courier => "courier",
            Role::GridMember => "grid_member",
            Role::GridLead => "grid_lead",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        Ok(match s {
            "courier" => Role::Courier,
            "grid_member" => Role::GridMember,
            "grid_lead" => Role::GridLead,
            "responder" => Role::Responder,
            "admin" => Role::Admin,
            _ => {
                return Err(ValidationError::Unknown {
                    what: "role",
                    value: s.to_string(),
                });
            }
        })
    }
}

/// The person using this device. Until sync supplies it from the directory it is set locally.
///
/// `grids` is the member's scope already expanded: the grids it belongs to and every grid
/// below them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub grids: Vec<String>,
    /// The responder unit a responder works for.
    pub unit_id: Option<String>,
}

impl Member {
    pub fn new<I, S>(id: &str, name: &str, role: Role, grids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Member {
            id: id.to_string(),
            name: name.to_string(),
            role,
            grids: grids.into_iter().map(Into::into).collect(),
            unit_id: None,
        }
    }

    pub fn with_unit(mut self, unit: &str) -> Self {
        self.unit_id = Some(unit.to_string());
        self
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        crate::error::check_required("member id", &self.id, 200)?;
        crate::error::check_required("member name", &self.name, 200)?;
        for g in &self.grids {
            crate::error::check_required("grid", g, 200)?;
        }
        if self.role == Role::Responder
            && self.unit_id.as_deref().is_none_or(|u| u.trim().is_empty())
        {
            return Err(ValidationError::Empty {
                field: "responder unit",
            });
        }
        Ok(())
    }

    pub fn in_grid(&self, grid: &str) -> bool {
        self.role == Role::Admin || self.grids.iter().any(|g| g == grid)
    }
}
