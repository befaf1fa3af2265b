//! Following a job's server-sent events in the browser (`/api/jobs/{id}/events`).

use store::JobEvent;

/// Hands each event of job `id` after `after` to `on_event` until the end notice, which
/// `on_event` also gets; events this version cannot read are passed over. Nothing happens
/// while rendering on the server.
#[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
pub fn follow_job(id: i64, after: i64, on_event: impl Fn(JobEvent) + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::prelude::Closure;
        use wasm_bindgen::JsCast;
        let Ok(source) = web_sys::EventSource::new(&format!("/api/jobs/{id}/events?after={after}"))
        else {
            return;
        };
        let closer = source.clone();
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                let Some(event) = e
                    .data()
                    .as_string()
                    .as_deref()
                    .and_then(JobEvent::from_json)
                else {
                    return;
                };
                let ended = event.end_state().is_some();
                on_event(event);
                if ended {
                    closer.close();
                }
            });
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
    }
}
