//! Media the account and its users hold.

use super::users::hear;
use crate::MockHandle;
use crate::push::UserInput;
use crate::state::{self, StoredMedia};

impl MockHandle {
    /// A picture or recording a user sends, kept by the emulated WeChat as a temporary
    /// media (3 days on the emulator's clock) under a new id, which `media/get` serves:
    /// the `MediaId` of the push that carries it ([`UserInput::Image`], [`UserInput::Voice`]).
    /// `kind` is `image`, `voice`, `video` or `thumb`; the content type is read from the
    /// file's first bytes.
    pub fn user_media(&self, kind: &str, data: impl Into<bytes::Bytes>) -> String {
        self.keep_media(kind, data.into(), false)
    }

    /// A permanent material already in the account's library (as if added on the
    /// official platform), under a new id that `get_material` serves; see
    /// [`MockServer::user_media`](MockHandle::user_media) for `kind`.
    pub fn add_material(&self, kind: &str, data: impl Into<bytes::Bytes>) -> String {
        self.keep_media(kind, data.into(), true)
    }

    /// Keeps a media file, named and typed by its first bytes; a video material gets a
    /// description, as `add_material` requires one.
    fn keep_media(&self, kind: &str, data: bytes::Bytes, permanent: bool) -> String {
        let (content_type, extension) = sniff(&data);
        let now = self.now_ms();
        let stored = self.state().store_media(StoredMedia {
            kind: kind.to_owned(),
            filename: format!("media.{extension}"),
            content_type: content_type.to_owned(),
            data,
            created_ms: now,
            permanent,
            description: (permanent && kind == "video")
                .then(|| ("video".to_owned(), String::new())),
        });
        stored.unwrap_or_else(|| {
            panic!(
                "wx-kefu-mock holds {} MiB of permanent materials, its most: delete some first",
                state::MEDIA_CAPACITY >> 20
            )
        })
    }

    /// The user sends a picture without a webhook to push it to: it is kept as a
    /// temporary media and is part of the conversation and the records, as a message; the
    /// media id, which `media/get` serves.
    pub fn user_picture(&self, openid: &str, image: impl Into<bytes::Bytes>) -> String {
        let media_id = self.user_media("image", image);
        let input = UserInput::Image {
            pic_url: pic_url(&media_id),
            media_id: media_id.clone(),
        };
        let now = self.now_ms();
        hear(&mut self.state(), openid, &input, now);
        media_id
    }
}

/// The `PicUrl` of a user's picture.
pub(crate) fn pic_url(media_id: &str) -> String {
    format!("http://mmbiz.qpic.cn/mmbiz_jpg/{}/0", &media_id[..24])
}

/// A file's content type and extension, from its first bytes.
pub(crate) fn sniff(data: &[u8]) -> (&'static str, &'static str) {
    use wx_kefu_api::FileKind;
    [
        (FileKind::Jpeg, "image/jpeg", "jpg"),
        (FileKind::Png, "image/png", "png"),
        (FileKind::Gif, "image/gif", "gif"),
        (FileKind::Amr, "audio/amr", "amr"),
        (FileKind::Mp3, "audio/mpeg", "mp3"),
        (FileKind::Mp4, "video/mp4", "mp4"),
    ]
    .into_iter()
    .find(|(kind, _, _)| kind.matches(data))
    .map_or(("application/octet-stream", "bin"), |(_, ty, ext)| {
        (ty, ext)
    })
}
