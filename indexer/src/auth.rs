//! Bearer-token authorisation: ingest, query and admin roles.

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Send batches.
    Ingest,
    /// Read data.
    Query,
    /// Retention, snapshots (an admin token also works for every other role).
    Admin,
}

/// The configured tokens per role; an empty list leaves that role open.
#[derive(Debug, Clone, Default)]
pub struct AuthTokens {
    /// Tokens allowed to ingest.
    pub ingest: Vec<String>,
    /// Tokens allowed to query.
    pub query: Vec<String>,
    /// Tokens allowed everything.
    pub admin: Vec<String>,
}

/// Why a request was not authorised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header, or a token nobody configured (HTTP 401).
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// A known token of another role (HTTP 403).
    #[error("forbidden: this token may not {0}")]
    Forbidden(&'static str),
}

impl AuthError {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            AuthError::Unauthorized(_) => 401,
            AuthError::Forbidden(_) => 403,
        }
    }
}

fn verb(role: Role) -> &'static str {
    match role {
        Role::Ingest => "ingest",
        Role::Query => "query",
        Role::Admin => "use admin endpoints",
    }
}

/// Constant-time-ish comparison (length leaks, contents do not).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn contains(list: &[String], token: &str) -> bool {
    list.iter().fold(false, |found, t| same(t, token) | found)
}

/// The token of an `Authorization` header: `Bearer <token>`, or `Basic <base64(user:token)>` with the token as
/// the password (the user is ignored), which is how Grafana's "Basic authentication" and `logcli -u/-p` send one.
fn token_of(header: &str) -> Result<String, AuthError> {
    const FORM: &str =
        "Authorization header is not of the form Bearer <token> or Basic <user:token>";
    let (scheme, rest) = header
        .trim()
        .split_once(' ')
        .ok_or(AuthError::Unauthorized(FORM))?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(rest.trim().to_string());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::Unauthorized(FORM));
    }
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(AuthError::Unauthorized(
            "Authorization: Basic credentials are not valid base64 of user:token",
        ))?;
    let (_user, password) = decoded.split_once(':').ok_or(AuthError::Unauthorized(
        "Authorization: Basic credentials have no ':' between user and token",
    ))?;
    Ok(password.to_string())
}

/// Checks an `Authorization` header value for `role`: open when no token of that role is configured (and for
/// admin, when no admin token is configured); 401 when missing/unknown, 403 when the token has another role.
pub fn check_token(tokens: &AuthTokens, role: Role, header: Option<&str>) -> Result<(), AuthError> {
    let required = match role {
        Role::Ingest => &tokens.ingest,
        Role::Query => &tokens.query,
        Role::Admin => &tokens.admin,
    };
    if required.is_empty() {
        return Ok(());
    }
    let Some(header) = header else {
        return Err(AuthError::Unauthorized(
            "missing Authorization: Bearer <token> header",
        ));
    };
    let token = &token_of(header)?;
    if contains(required, token) || contains(&tokens.admin, token) {
        return Ok(());
    }
    if contains(&tokens.ingest, token) || contains(&tokens.query, token) {
        return Err(AuthError::Forbidden(verb(role)));
    }
    Err(AuthError::Unauthorized("unknown token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> AuthTokens {
        AuthTokens {
            ingest: vec!["in".into()],
            query: vec!["q".into()],
            admin: vec!["adm".into()],
        }
    }

    #[test]
    fn basic_auth_carries_the_token_as_password() {
        use base64::Engine as _;
        let t = tokens();
        let basic = |cred: &str| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(cred)
            )
        };
        assert_eq!(
            check_token(&t, Role::Query, Some(&basic("grafana:q"))),
            Ok(())
        );
        assert_eq!(check_token(&t, Role::Query, Some(&basic(":adm"))), Ok(()));
        assert_eq!(
            check_token(&t, Role::Query, Some(&basic("q:in"))).map_err(|e| e.status()),
            Err(403),
            "the password is the token, not the user"
        );
        assert_eq!(
            check_token(&t, Role::Query, Some(&basic("q:nope"))).map_err(|e| e.status()),
            Err(401)
        );
        for bad in ["Basic !!!", "Basic", "Digest abc", "q"] {
            assert_eq!(
                check_token(&t, Role::Query, Some(bad)).map_err(|e| e.status()),
                Err(401),
                "{bad}"
            );
        }
        let no_colon = basic("q");
        assert_eq!(
            check_token(&t, Role::Query, Some(&no_colon)).map_err(|e| e.status()),
            Err(401)
        );
        assert_eq!(check_token(&t, Role::Query, Some("bearer q")), Ok(()));
    }

    #[test]
    fn roles_are_enforced() {
        let t = tokens();
        assert_eq!(check_token(&t, Role::Ingest, Some("Bearer in")), Ok(()));
        assert_eq!(check_token(&t, Role::Ingest, Some("Bearer adm")), Ok(()));
        assert_eq!(
            check_token(&t, Role::Ingest, Some("Bearer q")).map_err(|e| e.status()),
            Err(403)
        );
        assert_eq!(
            check_token(&t, Role::Ingest, None).map_err(|e| e.status()),
            Err(401)
        );
        assert_eq!(
            check_token(&t, Role::Ingest, Some("Bearer nope")).map_err(|e| e.status()),
            Err(401)
        );
        assert_eq!(
            check_token(&t, Role::Admin, Some("Bearer in")).map_err(|e| e.status()),
            Err(403)
        );
        assert_eq!(
            check_token(&AuthTokens::default(), Role::Admin, None),
            Ok(())
        );
    }
}
