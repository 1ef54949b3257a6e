//! Access tokens, as the handle reads and invalidates them.

use crate::MockHandle;

impl MockHandle {
    /// A valid access token, issued without a fetch (not counted in the fetch counts).
    pub fn access_token(&self) -> String {
        let now = self.now_ms();
        self.state().issue_token(now)
    }

    /// Invalidates every token issued so far: calls with them answer 40001 and the next
    /// stable-token fetch issues a new one.
    pub fn invalidate_tokens(&self) {
        let now = self.now_ms();
        self.state().invalidate_tokens(now);
    }

    /// How many stable tokens (`POST /cgi-bin/stable_token`) were handed out.
    pub fn stable_token_fetches(&self) -> u64 {
        self.state().stable_fetches
    }

    /// How many classic tokens (`GET /cgi-bin/token`) were handed out.
    pub fn classic_token_fetches(&self) -> u64 {
        self.state().classic_fetches
    }
}
