//! The status codes of the C API, defined once.
//!
//! The [`statuses!`] table below is the one definition: it makes the [`Status`] enum, its numbers,
//! its lowercase names and the NUL-terminated copies that `oauthmail_status_name` returns. The
//! `OAUTHMAIL_*` constants of the header are tied to it by a compile-time check in `src/ffi/`, and
//! the tables of README.md and the troubleshooting guides by `tests/docs.rs`.

macro_rules! statuses {
    ($($variant:ident = $code:literal, $name:literal;)*) => {
        /// The status codes of the C API. Numbers are fixed forever; new codes are only added at the end.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u32)]
        pub enum Status {
            $($variant = $code,)*
        }

        const COUNT: usize = [$($code),*].len();

        impl Status {
            /// Every status, in numeric order.
            pub const ALL: [Status; COUNT] = [$(Status::$variant),*];

            /// The name with a final NUL, for the C API's static strings.
            pub(crate) const fn c_name(self) -> &'static str {
                match self {
                    $(Status::$variant => concat!($name, "\0"),)*
                }
            }
        }
    };
}

statuses! {
    Ok = 0, "ok";
    InvalidArgument = 1, "invalid_argument";
    Cancelled = 2, "cancelled";
    Timeout = 3, "timeout";
    AccessDenied = 4, "access_denied";
    Reauthorize = 5, "reauthorize";
    InsufficientScope = 6, "insufficient_scope";
    AuthFailed = 7, "auth_failed";
    Network = 8, "network";
    Tls = 9, "tls";
    RateLimited = 10, "rate_limited";
    Rejected = 11, "rejected";
    Provider = 12, "provider";
    Io = 13, "io";
    Internal = 14, "internal";
}

// The numbers are 0, 1, 2, ... in order: `from_code` indexes `ALL` by them.
const _: () = {
    let mut i = 0;
    while i < COUNT {
        assert!(
            Status::ALL[i] as usize == i,
            "status codes must be 0, 1, 2, ... in order"
        );
        i += 1;
    }
};

impl Status {
    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn from_code(code: u32) -> Option<Status> {
        Status::ALL.get(code as usize).copied()
    }

    /// The lowercase name: the C constant's suffix and the error document's `status`.
    pub fn name(self) -> &'static str {
        let with_nul = self.c_name();
        &with_nul[..with_nul.len() - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_numbers_and_names_are_the_contract() {
        let names: Vec<_> = Status::ALL.iter().map(|s| (s.code(), s.name())).collect();
        assert_eq!(names[0], (0, "ok"));
        assert_eq!(names[5], (5, "reauthorize"));
        assert_eq!(names[14], (14, "internal"));
        for (i, s) in Status::ALL.iter().enumerate() {
            assert_eq!(s.code() as usize, i);
            assert_eq!(Status::from_code(i as u32), Some(*s));
        }
        assert_eq!(Status::from_code(15), None);
    }

    #[test]
    fn c_names_are_the_names_with_one_final_nul() {
        for s in Status::ALL {
            assert_eq!(s.c_name(), format!("{}\0", s.name()));
        }
    }
}
