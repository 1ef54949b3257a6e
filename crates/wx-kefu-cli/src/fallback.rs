//! `message send … --fallback-template`: the message, and a template message if the
//! user's window has closed ([`wx_kefu_api::Fallback`]).

use std::collections::BTreeMap;

use clap::ArgMatches;
use serde_json::{Value, json};
use wx_kefu_api::{Delivered, Fallback, SendCustomMessage, SendTemplateMessage, TemplateValue};

use crate::args::{FALLBACK_DATA, FALLBACK_TEMPLATE, FALLBACK_URL, IDEMPOTENCY_KEY};
use crate::error::CliError;

/// The fallback the command declares, with its message; `None` without
/// `--fallback-template`.
pub fn declared(args: &ArgMatches, request: &Value) -> Result<Option<Fallback>, CliError> {
    let Some(template_id) = args.try_get_one::<String>(FALLBACK_TEMPLATE).ok().flatten() else {
        return Ok(None);
    };
    let message: SendCustomMessage = serde_json::from_value(request.clone())
        .map_err(|e| CliError::usage(format!("the message: {e}")))?;
    let mut data = BTreeMap::new();
    for pair in args
        .try_get_many::<String>(FALLBACK_DATA)
        .ok()
        .flatten()
        .into_iter()
        .flatten()
    {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            CliError::usage(format!("--fallback-data `{pair}`: expected KEY=VALUE"))
        })?;
        data.insert(key.to_owned(), TemplateValue::new(value));
    }
    let mut template = SendTemplateMessage::new(message.touser.clone(), template_id, data);
    if let Some(url) = args.try_get_one::<String>(FALLBACK_URL).ok().flatten() {
        template = template.url(url);
    }
    let mut fallback = Fallback::new(message).or_template(template);
    if let Some(key) = args.try_get_one::<String>(IDEMPOTENCY_KEY).ok().flatten() {
        fallback = fallback.idempotency_key(key);
    }
    Ok(Some(fallback))
}

/// Which channel delivered, as the command prints it.
pub fn shown(delivered: &Delivered) -> Value {
    match delivered {
        Delivered::CustomerService => json!({ "delivered": "customer_service" }),
        Delivered::Template { msgid } => json!({ "delivered": "template", "msgid": msgid }),
        Delivered::Subscribe => json!({ "delivered": "subscribe" }),
        other => json!({ "delivered": format!("{other:?}") }),
    }
}
