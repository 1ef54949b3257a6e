//! The command tree, derived from the spec.
//!
//! Every endpoint of [`wx_kefu_api::ENDPOINTS`] that takes an access token becomes a
//! `wx-kefu <group> <verb>` subcommand: the group and verb come from a small naming table
//! (with a fallback, so that an endpoint added to the spec appears without code here),
//! the help from the endpoint's zh/en summary, and the arguments from its fields:
//!
//! - a required scalar or file field is a positional argument, in spec order;
//! - an optional scalar field is a `--kebab-name VALUE` option;
//! - an object or array field is a `--kebab-name JSON` option (required if the field is);
//! - a union field (a message: `msgtype` plus its content) is a positional `<MSGTYPE>`
//!   restricted to the union's variants, with the content from `--field KEY=VALUE`
//!   (`KEY:=JSON` for non-strings) and/or `--payload JSON`.
//!
//! The hand-written commands are `records export`, `token`, `config` and `mock`.

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgAction, Args, Command, FromArgMatches, Subcommand};
use wx_kefu_api::ENDPOINTS;
use wx_kefu_api::meta::{EndpointMeta, FieldMeta, FieldType, Location};

use crate::args::{
    FALLBACK_DATA, FALLBACK_TEMPLATE, FALLBACK_URL, FORCE, IDEMPOTENCY_KEY, MEDIA_FILE, OUTPUT,
    PAYLOAD_FIELDS, PAYLOAD_JSON, THUMB_FILE, field_id, field_long, kebab,
};
use crate::context::Global;
use crate::error::EXIT_HELP;
use crate::export::ExportArgs;

/// The hand-written top-level commands.
#[derive(Debug, Subcommand)]
pub enum Fixed {
    /// 获取 access_token — Fetch an access token and print its expiry (the token only with --show).
    Token(TokenArgs),
    /// 配置 — Show or write the config file (appid, secret, base URL).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// 模拟器 — Run the emulator of the WeChat customer-service API on 127.0.0.1.
    Mock(MockArgs),
}

/// `wx-kefu token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Print the token itself.
    #[arg(long)]
    pub show: bool,
    /// Force WeChat to issue a new token, retiring the current one everywhere
    /// (WeChat allows 20 a day, 30 s apart).
    #[arg(long)]
    pub refresh: bool,
}

/// `wx-kefu config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print where the config file is.
    Path,
    /// Print the settings in effect and where each comes from (never the secret).
    Show,
    /// Write --appid, --secret (or WX_APPID, WX_SECRET) and --base-url into the config
    /// file, created with permissions 0600; other entries are kept.
    Set(ConfigSetArgs),
}

/// `wx-kefu config set`.
#[derive(Debug, Args)]
pub struct ConfigSetArgs {
    /// Read the secret from the first line of stdin (keeps it out of the process list).
    #[arg(long)]
    pub secret_stdin: bool,
    /// Remove the base URL from the file (calls then go to WeChat's host).
    #[arg(long, conflicts_with = "base_url")]
    pub clear_base_url: bool,
}

/// `wx-kefu mock`.
#[derive(Debug, Args)]
pub struct MockArgs {
    /// The loopback port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Start with demo data: an online agent, a user waiting and a few chat records.
    #[arg(long)]
    pub demo: bool,
}

/// A spec endpoint and where it sits in the command tree.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// The group command, e.g. `account`.
    pub group: &'static str,
    /// The verb, e.g. `add`.
    pub verb: &'static str,
    /// The endpoint.
    pub meta: &'static EndpointMeta,
}

/// Commands an endpoint may not take, because hand-written commands use them.
const RESERVED: &[&str] = &["token", "config", "mock", "help", "export"];

/// Where every endpoint that takes an access token sits, in spec order.
pub fn placements() -> Vec<Placement> {
    place(ENDPOINTS)
}

/// Places endpoints where the spec says (`command:` and `verb:`, `wx-kefu account list`);
/// those without an access token (the token calls) are left to `token`.
fn place(endpoints: &[&'static EndpointMeta]) -> Vec<Placement> {
    let mut placed: Vec<Placement> = Vec::new();
    for meta in endpoints.iter().copied().filter(|meta| meta.auth) {
        let group = match RESERVED.contains(&meta.command) {
            true => leak(format!("{}-api", meta.command)),
            false => meta.command,
        };
        let taken = placed
            .iter()
            .any(|p| p.group == group && p.verb == meta.verb);
        let verb = match taken || RESERVED.contains(&meta.verb) {
            // Never shadow another command (the generator refuses a spec that would):
            // use the spec name itself.
            true => leak(kebab(meta.name)),
            false => meta.verb,
        };
        placed.push(Placement { group, verb, meta });
    }
    placed
}

/// Names are made once per process, for the static command tree.
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// Whether a field is given positionally.
pub fn is_positional(field: &FieldMeta) -> bool {
    field.required
        && matches!(
            field.ty,
            FieldType::String
                | FieldType::StringOrNumber
                | FieldType::Integer
                | FieldType::Bool
                | FieldType::Enum(_)
                | FieldType::File
        )
}

/// The whole command tree.
pub fn command() -> Command {
    tree(&placements())
}

/// The help of a group command: the spec's title of the group its endpoints belong to.
fn group_title(placements: &[Placement], command: &str) -> String {
    let spec_group = placements
        .iter()
        .find(|p| p.group == command)
        .map(|p| p.meta.group);
    wx_kefu_api::GROUPS
        .iter()
        .find(|g| Some(g.name) == spec_group)
        .map_or_else(
            || command.to_owned(),
            |g| format!("{} — {}", g.title_zh, g.title_en),
        )
}

/// The command tree with these endpoints.
fn tree(placements: &[Placement]) -> Command {
    let mut groups: Vec<&'static str> = Vec::new();
    for placement in placements {
        if !groups.contains(&placement.group) {
            groups.push(placement.group);
        }
    }
    if !groups.contains(&"records") {
        groups.push("records");
    }
    let mut root = Global::augment_args(Command::new("wx-kefu"));
    for group in groups {
        let about = group_title(placements, group);
        let mut command = Command::new(group)
            .about(about)
            .subcommand_required(true)
            .arg_required_else_help(true);
        for placement in placements.iter().filter(|p| p.group == group) {
            command = command.subcommand(endpoint_command(placement));
        }
        if group == "platform" {
            command = command.subcommand(Command::new("authorizers").about(
                "已授权的账号 — Every account that authorizes the platform, with the permission sets the platform's store keeps (no refresh token)",
            ));
        }
        if group == "records" {
            // The texts after augmenting, which sets them from the struct's documentation.
            command = command.subcommand(
                ExportArgs::augment_args(Command::new("export"))
                    .about("导出聊天记录 — Export every chat record between two instants as JSON lines")
                    .long_about(crate::export::LONG_ABOUT),
            );
        }
        root = root.subcommand(command);
    }
    // The hand-written commands after the spec's groups, in the help too; the root's own
    // texts last, as augmenting sets them from the enum's documentation.
    Fixed::augment_subcommands(root)
        .version(env!("CARGO_PKG_VERSION"))
        .about("微信公众号客服 — the WeChat Official Account customer-service API from the command line")
        .long_about(
            "微信公众号客服 — the WeChat Official Account customer-service API from the command line.\n\n\
             Manage agent accounts, sessions and the waiting queue, send messages, and export chat \
             records. Commands and their arguments come from the API spec.",
        )
        .subcommand_required(true)
        .arg_required_else_help(true)
        .after_help(format!(
            "Credentials, first found wins:\n  \
             --access-token / WX_ACCESS_TOKEN   a token managed elsewhere (no appid or secret needed)\n  \
             --appid, --secret                  flags\n  \
             WX_APPID, WX_SECRET                environment\n  \
             the config file                    `wx-kefu config set` writes it (mode 0600); `wx-kefu config path`\n\n\
             Output: tables by default; --json prints one JSON document (JSON lines for exports).\n\n\
             {EXIT_HELP}"
        ))
}

/// The subcommand of one endpoint.
fn endpoint_command(placement: &Placement) -> Command {
    let meta = placement.meta;
    let about = format!("{} — {}", meta.summary_zh, meta.summary_en);
    let when = meta.idempotent_when.map(|field| {
        format!("retried like a read when `{field}` is given, which makes WeChat send it once; never retried otherwise once it may have reached WeChat")
    });
    let retry = match (meta.idempotent, &when) {
        (true, _) => "a read: retried when the network fails",
        (false, Some(when)) => when.as_str(),
        (false, None) => "not idempotent: never retried once it may have reached WeChat",
    };
    let long_about = format!(
        "{about}\n\n{} {} ({retry})\nDocs: {}\nSpec name: {}",
        meta.method.as_str(),
        meta.path,
        meta.doc_url,
        meta.name
    );
    let mut command = Command::new(placement.verb)
        .about(about)
        .long_about(long_about);
    // A union's tag comes first: `message send <MSGTYPE> <TOUSER> …`.
    for field in meta.fields {
        if let FieldType::Union { tag, variants } = field.ty {
            command = command
                .arg(
                    Arg::new(field_id(tag))
                        .value_name(tag.to_uppercase())
                        .required(field.required)
                        .value_parser(PossibleValuesParser::new(variants.iter().copied()))
                        .help(field.doc),
                )
                .arg(
                    Arg::new(PAYLOAD_FIELDS)
                        .long("field")
                        .short('f')
                        .value_name("KEY=VALUE")
                        .action(ArgAction::Append)
                        .help(format!(
                            "A field of the {tag}'s content: KEY=VALUE for a string, \
                             KEY:=JSON for any JSON value (repeatable)"
                        )),
                )
                .arg(
                    Arg::new(PAYLOAD_JSON)
                        .long("payload")
                        .value_name("JSON")
                        .help(format!(
                            "The {tag}'s content as a JSON object (@FILE reads it from a file); \
                             --field entries are applied on top"
                        )),
                )
                .arg(
                    Arg::new(MEDIA_FILE)
                        .long("file")
                        .value_name("FILE")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help(
                            "Upload FILE as a temporary media of the message's kind (image, \
                             voice, video) and send its id as `media_id`",
                        ),
                )
                .arg(
                    Arg::new(THUMB_FILE)
                        .long("thumb")
                        .value_name("FILE")
                        .value_parser(clap::value_parser!(PathBuf))
                        .help(
                            "Upload FILE (a JPEG of at most 64 KB) as a thumbnail and send its \
                             id as `thumb_media_id` (video, music, miniprogrampage)",
                        ),
                )
                .after_help(format!(
                    "The content goes under the {tag}, e.g.:\n  \
                     wx-kefu message send text OPENID --field content=您好\n  \
                     wx-kefu message send image OPENID --file ./screenshot.png\n  \
                     wx-kefu message send news OPENID --field 'articles:=[{{\"title\":\"t\",\"description\":\"d\",\"url\":\"https://example.com\",\"picurl\":\"https://example.com/p.jpg\"}}]'\n  \
                     wx-kefu message send msgmenu OPENID --payload @menu.json"
                ));
        }
    }
    for field in meta.fields {
        if matches!(field.ty, FieldType::Union { .. }) {
            continue;
        }
        command = command.arg(field_arg(field));
    }
    if meta.name == "send_custom_message" {
        command = command
            .arg(
                Arg::new(FALLBACK_TEMPLATE)
                    .long("fallback-template")
                    .value_name("TEMPLATE_ID")
                    .help(
                        "If the user's window has closed (45015, 45047), send this template \
                         message instead (once: with a client_msg_id)",
                    ),
            )
            .arg(
                Arg::new(FALLBACK_DATA)
                    .long("fallback-data")
                    .value_name("KEY=VALUE")
                    .action(ArgAction::Append)
                    .requires(FALLBACK_TEMPLATE)
                    .help("A field of the fallback template (repeatable), e.g. keyword1=已发货"),
            )
            .arg(
                Arg::new(FALLBACK_URL)
                    .long("fallback-url")
                    .value_name("URL")
                    .requires(FALLBACK_TEMPLATE)
                    .help("Where a tap on the fallback template leads"),
            )
            .arg(
                Arg::new(IDEMPOTENCY_KEY)
                    .long("idempotency-key")
                    .value_name("KEY")
                    .requires(FALLBACK_TEMPLATE)
                    .help(
                        "The fallback template's client_msg_id (at most 64 characters): the same \
                         key sends it once however often the command is repeated",
                    ),
            );
    }
    if meta.downloads {
        command = command.arg(
            Arg::new(OUTPUT)
                .long("output")
                .short('o')
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help(
                    "Where to save the file (default: the name WeChat gives it, in the \
                     current directory); a video's address is printed instead",
                ),
        );
        command = command.arg(
            Arg::new(FORCE)
                .long("force")
                .action(clap::ArgAction::SetTrue)
                .help("Replace a file already at the target path (a link there is replaced, not followed)"),
        );
    }
    command
}

/// The argument of one non-union field.
fn field_arg(field: &'static FieldMeta) -> Arg {
    let mut help = field.doc.to_owned();
    let rules = rules_text(field);
    if !rules.is_empty() {
        help.push_str(&format!(" [{rules}]"));
    }
    if field.location == Location::Query {
        help.push_str(" (sent in the query)");
    }
    let arg = Arg::new(field_id(field.wire)).help(help);
    let arg = match is_positional(field) {
        true => arg.value_name(field.wire.to_uppercase()).required(true),
        false => arg
            .long(field_long(field))
            .required(field.required)
            .value_name(match field.ty {
                FieldType::Object | FieldType::Array => "JSON",
                _ => "VALUE",
            }),
    };
    match field.ty {
        FieldType::Integer => arg.value_parser(clap::value_parser!(i64)),
        FieldType::Bool => arg.value_parser(clap::value_parser!(bool)),
        FieldType::Enum(values) => {
            arg.value_parser(PossibleValuesParser::new(values.iter().copied()))
        }
        FieldType::File => arg
            .value_parser(clap::value_parser!(PathBuf))
            .value_name("FILE"),
        _ => arg,
    }
}

/// The field's rules for help: in the words of the call's documentation (the metadata's
/// `limits`, written by the generator from the same rule), and an enum's values.
fn rules_text(field: &FieldMeta) -> String {
    let mut parts = Vec::new();
    if !field.limits.is_empty() {
        parts.push(field.limits.to_owned());
    }
    if let FieldType::Enum(values) = field.ty {
        parts.push(values.join(" | "));
    }
    parts.join("; ")
}

/// Reads the global options from the matches.
pub fn global(matches: &clap::ArgMatches) -> Result<Global, clap::Error> {
    Global::from_arg_matches(matches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wx_kefu_api::Method;

    const fn field(wire: &'static str, ty: FieldType, required: bool) -> FieldMeta {
        FieldMeta::new(wire, ty).required(required).doc("A field.")
    }

    /// An endpoint the naming table does not know, with every kind of field.
    static NEW: EndpointMeta = EndpointMeta::new(
        "transfer_kf_session",
        Method::Post,
        "/customservice/kfsession/transfer",
    )
    .summary("转接会话", "Hand a session to another agent")
    .doc_url("https://example.invalid/doc")
    .group("sessions")
    // As the generator writes it: the file's command, the name in kebab case.
    .cli("session", "transfer-kf-session")
    .fields(&[
        field("openid", FieldType::String, true),
        field("count", FieldType::Integer, true),
        field("mode", FieldType::Enum(&["fast", "slow"]), false),
        field("urgent", FieldType::Bool, false),
        field("json", FieldType::Object, false),
        field("tags", FieldType::Array, true),
    ]);

    /// An endpoint of a group the CLI has never heard of.
    static ODD: EndpointMeta =
        EndpointMeta::new("get_kf_stats", Method::Get, "/customservice/stats")
            .summary("客服统计", "Agent statistics")
            .doc_url("https://example.invalid/stats")
            .group("statistics")
            .cli("statistics", "get-kf-stats")
            .idempotent(true);

    #[test]
    fn the_real_tree_is_valid() {
        command().debug_assert();
        let placed = placements();
        assert!(placed.iter().all(|p| p.meta.auth));
        assert!(
            placed
                .iter()
                .any(|p| (p.group, p.verb) == ("account", "avatar"))
        );
    }

    #[test]
    fn a_new_endpoint_gets_a_command_and_arguments_without_code() {
        let mut endpoints: Vec<&'static EndpointMeta> = ENDPOINTS.to_vec();
        endpoints.extend([&NEW, &ODD]);
        let placed = place(&endpoints);
        let new = placed.iter().find(|p| p.meta.name == NEW.name).unwrap();
        assert_eq!((new.group, new.verb), ("session", "transfer-kf-session"));
        let odd = placed.iter().find(|p| p.meta.name == ODD.name).unwrap();
        assert_eq!((odd.group, odd.verb), ("statistics", "get-kf-stats"));

        let tree = tree(&placed);
        tree.clone().debug_assert();
        let matches = tree
            .clone()
            .try_get_matches_from([
                "wx-kefu",
                "session",
                "transfer-kf-session",
                "o_user",
                "3",
                "--mode",
                "fast",
                "--urgent",
                "true",
                "--field-json",
                r#"{"a":1}"#,
                "--tags",
                r#"["x"]"#,
            ])
            .unwrap();
        let (_, group) = matches.subcommand().unwrap();
        let (_, args) = group.subcommand().unwrap();
        let request = crate::request::build(&NEW, args).unwrap();
        assert_eq!(
            request,
            serde_json::json!({
                "openid": "o_user",
                "count": 3,
                "mode": "fast",
                "urgent": true,
                "json": {"a": 1},
                "tags": ["x"],
            })
        );
        let bad = tree.try_get_matches_from([
            "wx-kefu",
            "session",
            "transfer-kf-session",
            "o_user",
            "three",
            "--tags",
            "[]",
        ]);
        let error = bad.unwrap_err();
        assert_eq!(
            error.kind(),
            clap::error::ErrorKind::ValueValidation,
            "{error}"
        );
    }
}
