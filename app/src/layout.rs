//! The frame around every signed-in page: navigation, the user, logout.

use leptos::prelude::*;
use store::Role;

use crate::api::accounts::{me, Logout};

/// Navigation bar and page body. Admin links only show for admins.
#[component]
pub fn Frame(children: Children) -> impl IntoView {
    let user = Resource::new(|| (), |_| me());
    let logout = ServerAction::<Logout>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            let _ = window().location().set_href("/login");
        }
    });
    view! {
        <header class="topbar">
            <a class="brand" href="/">"vlm-inspect"</a>
            <nav>
                <a href="/">"Home"</a>
                <a href="/inspect">"Inspect"</a>
                <a href="/evaluations">"Evaluations"</a>
                <a href="/review">"Review"</a>
                <a href="/training">"Training"</a>
                <a href="/datasets">"Datasets"</a>
                <a href="/models">"Models"</a>
                <Suspense fallback=|| ()>
                    {move || {
                        user.get()
                            .and_then(Result::ok)
                            .filter(|u| u.role == Role::Admin)
                            .map(|_| view! { <a href="/admin/users">"Users"</a> })
                    }}
                </Suspense>
            </nav>
            <Suspense fallback=|| ()>
                {move || {
                    user.get().and_then(Result::ok).map(|u| {
                        view! {
                            <span class="who">
                                <a class="username" href="/account">{u.username.clone()}</a>
                                <span class=format!("role role-{}", u.role)>{u.role.to_string()}</span>
                            </span>
                        }
                    })
                }}
            </Suspense>
            <ActionForm action=logout attr:class="logout">
                <button type="submit" id="logout">"Sign out"</button>
            </ActionForm>
        </header>
        <main class="page">{children()}</main>
    }
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM` UTC.
pub fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::format_time;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_time(0), "1970-01-01 00:00");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00");
        assert_eq!(format_time(1_795_651_200 + 3_661), "2026-11-26 01:01");
    }
}
