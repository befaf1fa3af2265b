use leptos::prelude::*;
use store::{Role, UserInfo};

use crate::api::accounts::{
    list_users, AddUser, Credentials, ResetPassword, SetUserDisabled, SetUserRole,
};
use crate::layout::{format_time, Frame};
use crate::ApiError;

/// Admin page: add users, change roles, disable, reset passwords.
#[component]
pub fn UsersPage() -> impl IntoView {
    let add = ServerAction::<AddUser>::new();
    let set_role = ServerAction::<SetUserRole>::new();
    let set_disabled = ServerAction::<SetUserDisabled>::new();
    let reset = ServerAction::<ResetPassword>::new();
    let users = Resource::new(
        move || {
            (
                add.version().get(),
                set_role.version().get(),
                set_disabled.version().get(),
                reset.version().get(),
            )
        },
        |_| list_users(),
    );

    // The latest outcome of any action, shown above the table.
    let notice = move || {
        let last_err = [
            set_role.value().get().and_then(Result::err),
            set_disabled.value().get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .next();
        if let Some(e) = last_err {
            return Some(view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any());
        }
        reset
            .value()
            .get()
            .map(|r| credentials_notice(r, "Password reset"))
    };
    let added = move || {
        add.value()
            .get()
            .map(|r| credentials_notice(r, "User added"))
    };

    view! {
        <Frame>
            <h1>"Users"</h1>
            <section class="card">
                <h2>"Add a user"</h2>
                <ActionForm action=add attr:id="add-user" attr:class="inline">
                    <label>"Username" <input type="text" name="username" required maxlength="64"/></label>
                    <label>"Role"
                        <select name="role">
                            {Role::ALL.into_iter().map(|r| view! {
                                <option value=r.as_str() selected=r == Role::Member>{r.as_str()}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label>"Password" <input type="password" name="password" placeholder="empty: generate one" autocomplete="new-password"/></label>
                    <button type="submit" disabled=move || add.pending().get()>"Add user"</button>
                </ActionForm>
                {added}
            </section>
            {notice}
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || users.get().map(|r| match r {
                    Ok(list) => view! { <UserTable list set_role set_disabled reset/> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                })}
            </Transition>
        </Frame>
    }
}

fn credentials_notice(result: Result<Credentials, ApiError>, what: &'static str) -> AnyView {
    match result {
        Ok(c) => match c.generated_password {
            Some(pw) => view! {
                <p class="notice" role="status">
                    {what}": "<strong>{c.username}</strong>". Their password (shown once): "
                    <code class="secret">{pw}</code>
                </p>
            }
            .into_any(),
            None => view! { <p class="notice" role="status">{what}": "<strong>{c.username}</strong></p> }.into_any(),
        },
        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
    }
}

#[component]
fn UserTable(
    list: Vec<UserInfo>,
    set_role: ServerAction<SetUserRole>,
    set_disabled: ServerAction<SetUserDisabled>,
    reset: ServerAction<ResetPassword>,
) -> impl IntoView {
    view! {
        <table class="grid" id="users">
            <thead><tr><th>"Username"</th><th>"Role"</th><th>"Status"</th><th>"Created (UTC)"</th><th>"Actions"</th></tr></thead>
            <tbody>
                {list.into_iter().map(|u| {
                    let name = u.username.clone();
                    let name_role = name.clone();
                    let name_dis = name.clone();
                    let name_reset = name.clone();
                    let disabled = u.disabled;
                    view! {
                        <tr data-user=name.clone()>
                            <td class="username">{name.clone()}</td>
                            <td>
                                <select aria-label="role" on:change=move |ev| {
                                    set_role.dispatch(SetUserRole { username: name_role.clone(), role: event_target_value(&ev) });
                                }>
                                    {Role::ALL.into_iter().map(|r| view! {
                                        <option value=r.as_str() selected=r == u.role>{r.as_str()}</option>
                                    }).collect_view()}
                                </select>
                            </td>
                            <td>{if disabled { "disabled" } else { "active" }}</td>
                            <td>{format_time(u.created_at)}</td>
                            <td class="actions">
                                <button on:click=move |_| {
                                    set_disabled.dispatch(SetUserDisabled { username: name_dis.clone(), disabled: !disabled });
                                }>{if disabled { "Enable" } else { "Disable" }}</button>
                                <button on:click=move |_| {
                                    reset.dispatch(ResetPassword { username: name_reset.clone() });
                                }>"Reset password"</button>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
