//! Following a job's server-sent events in the browser (`/api/jobs/{id}/events`).

/// Hands each event of job `id` after `after` to `on_event` (its JSON text) until the end
/// notice, which `on_event` also gets. Nothing happens while rendering on the server.
#[cfg_attr(not(feature = "hydrate"), allow(unused_variables))]
pub fn follow_job(id: i64, after: i64, on_event: impl Fn(&str) + 'static) {
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
                let Some(text) = e.data().as_string() else {
                    return;
                };
                on_event(&text);
                if text.contains("\"kind\":\"end\"") {
                    closer.close();
                }
            });
        source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
    }
}
