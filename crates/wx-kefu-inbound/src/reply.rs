//! Passive replies: what the server answers a push with, and the HTTP answer it becomes.

use crate::push::Push;
use crate::xml::{push_cdata, push_integer};

/// What to answer a push with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// `success`: received, nothing to say. WeChat stops retrying and shows the user nothing.
    Success,
    /// A text message back to the user.
    Text(String),
    /// Hand the user's message to the customer-service agents
    /// (`MsgType=transfer_customer_service`): to whoever picks it from the waiting queue, or
    /// to one agent (`TransInfo/KfAccount`).
    ///
    /// Only user messages can be handed over; answered to an event, it is sent as
    /// [`Reply::Success`].
    TransferCustomerService {
        /// The one agent to hand the user to (`prefix@account`), if any.
        kf_account: Option<String>,
    },
    /// A picture (`MsgType=image`), by the `media_id` of an uploaded image.
    Image {
        /// The uploaded image's `media_id`.
        media_id: String,
    },
    /// A voice message (`MsgType=voice`), by the `media_id` of an uploaded recording.
    Voice {
        /// The uploaded recording's `media_id`.
        media_id: String,
    },
    /// A video (`MsgType=video`).
    Video {
        /// The uploaded video's `media_id`.
        media_id: String,
        /// Its title.
        title: Option<String>,
        /// Its description.
        description: Option<String>,
        /// A thumbnail's `media_id`: not part of the passive reply, but the
        /// customer-service message needs one, so a video reply can be deferred
        /// ([`crate::shared`]) only with it.
        thumb_media_id: Option<String>,
    },
    /// Music (`MsgType=music`).
    Music {
        /// Its title.
        title: Option<String>,
        /// Its description.
        description: Option<String>,
        /// Where to play it from.
        music_url: String,
        /// Where to play it from on Wi-Fi (better quality).
        hq_music_url: String,
        /// The thumbnail's `media_id`.
        thumb_media_id: String,
    },
    /// A news card (`MsgType=news`): WeChat shows one article (since October 2018).
    News(NewsArticle),
}

/// The article of a [`Reply::News`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewsArticle {
    /// Its title.
    pub title: String,
    /// Its description.
    pub description: String,
    /// The picture shown (JPG or PNG; 360×200 or 200×200).
    pub pic_url: String,
    /// Where a tap leads.
    pub url: String,
}

impl NewsArticle {
    /// An article: title, description, picture URL and link.
    pub fn new(
        title: impl Into<String>,
        description: impl Into<String>,
        pic_url: impl Into<String>,
        url: impl Into<String>,
    ) -> NewsArticle {
        NewsArticle {
            title: title.into(),
            description: description.into(),
            pic_url: pic_url.into(),
            url: url.into(),
        }
    }
}

impl Reply {
    /// `success`: received, nothing to say.
    pub fn success() -> Reply {
        Reply::Success
    }

    /// A text message back to the user.
    pub fn text(content: impl Into<String>) -> Reply {
        Reply::Text(content.into())
    }

    /// Hand the user's message to the customer-service agents.
    pub fn transfer_customer_service() -> Reply {
        Reply::TransferCustomerService { kf_account: None }
    }

    /// Hand the user's message to one agent (`TransInfo/KfAccount`). If that agent cannot
    /// take it, WeChat keeps the user waiting for that agent rather than another.
    pub fn transfer_to(kf_account: impl Into<String>) -> Reply {
        Reply::TransferCustomerService {
            kf_account: Some(kf_account.into()),
        }
    }

    /// A picture, by the `media_id` of an uploaded image.
    pub fn image(media_id: impl Into<String>) -> Reply {
        Reply::Image {
            media_id: media_id.into(),
        }
    }

    /// A voice message, by the `media_id` of an uploaded recording.
    pub fn voice(media_id: impl Into<String>) -> Reply {
        Reply::Voice {
            media_id: media_id.into(),
        }
    }

    /// A news card of one article.
    pub fn news(article: NewsArticle) -> Reply {
        Reply::News(article)
    }

    /// The `MsgType` it is sent as (`success` for [`Reply::Success`]).
    pub fn msg_type(&self) -> &'static str {
        match self {
            Reply::Success => "success",
            Reply::Text(_) => "text",
            Reply::TransferCustomerService { .. } => "transfer_customer_service",
            Reply::Image { .. } => "image",
            Reply::Voice { .. } => "voice",
            Reply::Video { .. } => "video",
            Reply::Music { .. } => "music",
            Reply::News(_) => "news",
        }
    }

    /// The plain XML answering `push` (addresses swapped), or `None` for `success` —
    /// including a transfer answered to an event, which WeChat does not forward.
    pub fn to_xml(&self, push: &Push, create_time: i64) -> Option<String> {
        let (msg_type, content, kf_account) = match self {
            Reply::Success => return None,
            Reply::Text(content) => ("text", Some(content.as_str()), None),
            Reply::TransferCustomerService { .. } if push.is_event() => return None,
            Reply::TransferCustomerService { kf_account } => {
                ("transfer_customer_service", None, kf_account.as_deref())
            }
            _ => return Some(self.media_xml(push, create_time)),
        };
        // One buffer, written in order: no formatting machinery on the hot path.
        let mut xml = String::with_capacity(
            160 + push.from_user_name.len()
                + push.to_user_name.len()
                + content.map_or(0, str::len)
                + kf_account.map_or(0, str::len),
        );
        push_header(&mut xml, push, create_time, msg_type);
        if let Some(content) = content {
            xml.push_str("<Content>");
            push_cdata(&mut xml, content);
            xml.push_str("</Content>");
        }
        if let Some(kf) = kf_account {
            xml.push_str("<TransInfo><KfAccount>");
            push_cdata(&mut xml, kf);
            xml.push_str("</KfAccount></TransInfo>");
        }
        xml.push_str("</xml>");
        Some(xml)
    }
}

/// The reply's envelope up to its `MsgType`: addressed back from the account to the user.
fn push_header(xml: &mut String, push: &Push, create_time: i64, msg_type: &str) {
    xml.push_str("<xml><ToUserName>");
    push_cdata(xml, &push.from_user_name);
    xml.push_str("</ToUserName><FromUserName>");
    push_cdata(xml, &push.to_user_name);
    xml.push_str("</FromUserName><CreateTime>");
    push_integer(xml, create_time);
    xml.push_str("</CreateTime><MsgType>");
    push_cdata(xml, msg_type);
    xml.push_str("</MsgType>");
}

impl Reply {
    /// The XML of a media or news reply (the rare kinds, written plainly).
    fn media_xml(&self, push: &Push, create_time: i64) -> String {
        let mut xml = String::with_capacity(256);
        push_header(&mut xml, push, create_time, self.msg_type());
        let element = |xml: &mut String, name: &str, value: &str| {
            xml.push('<');
            xml.push_str(name);
            xml.push('>');
            push_cdata(xml, value);
            xml.push_str("</");
            xml.push_str(name);
            xml.push('>');
        };
        match self {
            Reply::Image { media_id } => {
                xml.push_str("<Image>");
                element(&mut xml, "MediaId", media_id);
                xml.push_str("</Image>");
            }
            Reply::Voice { media_id } => {
                xml.push_str("<Voice>");
                element(&mut xml, "MediaId", media_id);
                xml.push_str("</Voice>");
            }
            Reply::Video {
                media_id,
                title,
                description,
                ..
            } => {
                xml.push_str("<Video>");
                element(&mut xml, "MediaId", media_id);
                if let Some(title) = title {
                    element(&mut xml, "Title", title);
                }
                if let Some(description) = description {
                    element(&mut xml, "Description", description);
                }
                xml.push_str("</Video>");
            }
            Reply::Music {
                title,
                description,
                music_url,
                hq_music_url,
                thumb_media_id,
            } => {
                xml.push_str("<Music>");
                if let Some(title) = title {
                    element(&mut xml, "Title", title);
                }
                if let Some(description) = description {
                    element(&mut xml, "Description", description);
                }
                element(&mut xml, "MusicUrl", music_url);
                element(&mut xml, "HQMusicUrl", hq_music_url);
                element(&mut xml, "ThumbMediaId", thumb_media_id);
                xml.push_str("</Music>");
            }
            Reply::News(article) => {
                xml.push_str("<ArticleCount>1</ArticleCount><Articles><item>");
                element(&mut xml, "Title", &article.title);
                element(&mut xml, "Description", &article.description);
                element(&mut xml, "PicUrl", &article.pic_url);
                element(&mut xml, "Url", &article.url);
                xml.push_str("</item></Articles>");
            }
            Reply::Success | Reply::Text(_) | Reply::TransferCustomerService { .. } => {}
        }
        xml.push_str("</xml>");
        xml
    }

    /// The reply as one string for a shared store: its kind, then each field as
    /// `<byte length>:<bytes>` (so no content can be taken for a separator).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let field = |out: &mut String, value: Option<&str>| match value {
            None => out.push('-'),
            Some(value) => {
                out.push_str(&value.len().to_string());
                out.push(':');
                out.push_str(value);
            }
        };
        match self {
            Reply::Success => out.push('s'),
            Reply::Text(text) => {
                out.push('t');
                field(&mut out, Some(text));
            }
            Reply::TransferCustomerService { kf_account } => {
                out.push('k');
                field(&mut out, kf_account.as_deref());
            }
            Reply::Image { media_id } => {
                out.push('i');
                field(&mut out, Some(media_id));
            }
            Reply::Voice { media_id } => {
                out.push('v');
                field(&mut out, Some(media_id));
            }
            Reply::Video {
                media_id,
                title,
                description,
                thumb_media_id,
            } => {
                out.push('V');
                field(&mut out, Some(media_id));
                field(&mut out, title.as_deref());
                field(&mut out, description.as_deref());
                field(&mut out, thumb_media_id.as_deref());
            }
            Reply::Music {
                title,
                description,
                music_url,
                hq_music_url,
                thumb_media_id,
            } => {
                out.push('m');
                field(&mut out, title.as_deref());
                field(&mut out, description.as_deref());
                field(&mut out, Some(music_url));
                field(&mut out, Some(hq_music_url));
                field(&mut out, Some(thumb_media_id));
            }
            Reply::News(article) => {
                out.push('n');
                field(&mut out, Some(&article.title));
                field(&mut out, Some(&article.description));
                field(&mut out, Some(&article.pic_url));
                field(&mut out, Some(&article.url));
            }
        }
        out
    }

    /// Reads what [`Reply::encode`] wrote; `None` for anything else.
    pub fn decode(text: &str) -> Option<Reply> {
        let mut rest = text.get(1..)?;
        let mut field = || -> Option<Option<String>> {
            if let Some(after) = rest.strip_prefix('-') {
                rest = after;
                return Some(None);
            }
            let (length, after) = rest.split_once(':')?;
            let length: usize = length.parse().ok()?;
            let value = after.get(..length)?;
            rest = &after[length..];
            Some(Some(value.to_owned()))
        };
        let reply = match text.as_bytes().first()? {
            b's' => Reply::Success,
            b't' => Reply::Text(field()??),
            b'k' => Reply::TransferCustomerService {
                kf_account: field()?,
            },
            b'i' => Reply::Image {
                media_id: field()??,
            },
            b'v' => Reply::Voice {
                media_id: field()??,
            },
            b'V' => Reply::Video {
                media_id: field()??,
                title: field()?,
                description: field()?,
                thumb_media_id: field()?,
            },
            b'm' => Reply::Music {
                title: field()?,
                description: field()?,
                music_url: field()??,
                hq_music_url: field()??,
                thumb_media_id: field()??,
            },
            b'n' => Reply::News(NewsArticle {
                title: field()??,
                description: field()??,
                pic_url: field()??,
                url: field()??,
            }),
            _ => return None,
        };
        rest.is_empty().then_some(reply)
    }
}

/// The HTTP answer to give WeChat: a body and its content type, always with status 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The body: `success`, the echoed `echostr`, or the (possibly encrypted) reply XML.
    pub body: String,
    /// `text/plain; charset=utf-8` or `application/xml; charset=utf-8`.
    pub content_type: &'static str,
}

impl Answer {
    /// `success`, as text.
    pub fn success() -> Answer {
        Answer::text("success")
    }

    /// A plain-text answer.
    pub(crate) fn text(body: impl Into<String>) -> Answer {
        Answer {
            body: body.into(),
            content_type: "text/plain; charset=utf-8",
        }
    }

    /// An XML answer.
    pub(crate) fn xml(body: String) -> Answer {
        Answer {
            body,
            content_type: "application/xml; charset=utf-8",
        }
    }

    /// Whether this is the plain `success`.
    pub fn is_success(&self) -> bool {
        self.body == "success"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_as_it_was_written_and_garbage_is_refused() {
        let replies = [
            Reply::success(),
            Reply::text("a 3:b -\n 你好"),
            Reply::transfer_customer_service(),
            Reply::transfer_to("alice@gh"),
            Reply::image("MEDIA"),
            Reply::voice("VOICE"),
            Reply::Video {
                media_id: "V".into(),
                title: Some("t".into()),
                description: None,
                thumb_media_id: Some("T".into()),
            },
            Reply::Music {
                title: None,
                description: Some("d".into()),
                music_url: "http://m".into(),
                hq_music_url: "http://hq".into(),
                thumb_media_id: "th".into(),
            },
            Reply::news(NewsArticle::new("t", "d", "http://p", "http://u")),
        ];
        for reply in replies {
            assert_eq!(Reply::decode(&reply.encode()), Some(reply));
        }
        for garbage in ["", "x", "t", "t5:abc", "t3:abcd", "k-x", "i-"] {
            assert_eq!(Reply::decode(garbage), None, "{garbage:?}");
        }
    }
}
