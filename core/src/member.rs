use serde::{Deserialize, Serialize};

use crate::error::{Denial, ValidationError};

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

    /// How the role reads in a sentence: "grid lead".
    pub fn label(self) -> &'static str {
        match self {
            Role::Courier => "courier",
            Role::GridMember => "grid member",
            Role::GridLead => "grid lead",
            Role::Responder => "responder",
            Role::Admin => "admin",
        }
    }

    /// Precedence among concurrent timeline events: when two people act without having seen
    /// each other's action, the one with more authority is folded first, so an offline
    /// action that crossed a lead's decision is judged against that decision.
    pub fn precedence(self) -> u8 {
        match self {
            Role::Admin => 0,
            Role::GridLead => 1,
            Role::GridMember => 2,
            Role::Responder => 3,
            Role::Courier => 4,
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

    /// Whether this member may open a case in `grid`: anyone but a responder; grid members
    /// and leads only in their grids. The store and the server's push check both ask here.
    pub fn may_report(&self, grid: &str) -> Result<(), Denial> {
        match self.role {
            Role::Responder => Err(Denial::Role("a responder cannot open cases".into())),
            Role::GridMember | Role::GridLead if !self.in_grid(grid) => Err(Denial::OutOfScope(
                format!("grid {grid} is outside your grids"),
            )),
            _ => Ok(()),
        }
    }

    /// Whether this member may start, answer and submit walkthroughs in `grid`.
    pub fn may_inspect(&self, grid: &str) -> Result<(), Denial> {
        if !matches!(self.role, Role::GridMember | Role::GridLead | Role::Admin) {
            return Err(Denial::Role(format!(
                "a {} cannot fill in inspections",
                self.role.label()
            )));
        }
        if !self.in_grid(grid) {
            return Err(Denial::OutOfScope(format!(
                "grid {grid} is outside your grids"
            )));
        }
        Ok(())
    }
}
