//! The one guard every route and server function goes through.

use crate::records::{Role, UserInfo};

/// Who may reach an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not (login page, health check, static files).
    Public,
    /// Any signed-in, enabled user.
    AnyUser,
    /// Signed-in users holding one of these roles.
    Roles(&'static [Role]),
}

impl Access {
    /// Admins only.
    pub const ADMIN: Access = Access::Roles(&[Role::Admin]);
    /// Admins and members: inspecting and evaluating.
    pub const MEMBER: Access = Access::Roles(&[Role::Admin, Role::Member]);
}

/// Why a caller was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("sign in first")]
    Unauthenticated,
    #[error("your role may not do this")]
    Forbidden,
}

/// Decides whether `user` (None when not signed in) may reach an endpoint guarded by `access`.
/// A disabled account counts as not signed in.
pub fn authorize(user: Option<&UserInfo>, access: Access) -> Result<(), Denied> {
    let user = match (access, user) {
        (Access::Public, _) => return Ok(()),
        (_, Some(u)) if !u.disabled => u,
        _ => return Err(Denied::Unauthenticated),
    };
    match access {
        Access::Roles(roles) if !roles.contains(&user.role) => Err(Denied::Forbidden),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, disabled: bool) -> UserInfo {
        UserInfo {
            id: 1,
            username: "u".into(),
            role,
            disabled,
            created_at: 0,
        }
    }

    #[test]
    fn public_needs_nothing() {
        assert_eq!(authorize(None, Access::Public), Ok(()));
    }

    #[test]
    fn signed_out_and_disabled_are_unauthenticated() {
        assert_eq!(
            authorize(None, Access::AnyUser),
            Err(Denied::Unauthenticated)
        );
        let off = user(Role::Admin, true);
        assert_eq!(
            authorize(Some(&off), Access::ADMIN),
            Err(Denied::Unauthenticated)
        );
    }

    #[test]
    fn roles_are_checked() {
        let table = [
            (Role::Admin, Access::ADMIN, true),
            (Role::Member, Access::ADMIN, false),
            (Role::Reviewer, Access::ADMIN, false),
            (Role::Admin, Access::MEMBER, true),
            (Role::Member, Access::MEMBER, true),
            (Role::Reviewer, Access::MEMBER, false),
            (Role::Reviewer, Access::AnyUser, true),
        ];
        for (role, access, allowed) in table {
            let got = authorize(Some(&user(role, false)), access);
            assert_eq!(got.is_ok(), allowed, "{role} on {access:?}");
            if !allowed {
                assert_eq!(got, Err(Denied::Forbidden));
            }
        }
    }
}
