//! What went wrong on the wire, told from the error types (never from their text): a TLS
//! handshake answered by a plain-HTTP server, another TLS failure, or the network; and an error
//! with its causes as one line for a person (Display only: an SDK's Debug output is a dump).
//!
//! A leaf: the CloudWatch Logs source and the OpenSearch client both use it.

use std::error::Error;

/// What a failed connection tells about its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFailure {
    /// `https://` to a server that answered in plain HTTP: the URL's scheme is wrong.
    NotTls,
    /// The TLS handshake failed otherwise (certificate, protocol).
    Tls,
    /// Anything else (refused, reset, timed out, name not resolved): the network or the server.
    Network,
}

/// Calls `f` on `e` and each of its causes, looking inside `std::io::Error`s too: an
/// `io::Error` wrapping another error skips it in `source()` (tokio-rustls hands a
/// `rustls::Error` up that way).
pub fn each_cause<'a>(e: &'a (dyn Error + 'static), f: &mut dyn FnMut(&'a (dyn Error + 'static))) {
    f(e);
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        each_cause(inner, f);
    }
    if let Some(source) = e.source() {
        each_cause(source, f);
    }
}

/// The kind of a connection failure, from the TLS library's own error in the chain.
pub fn wire_failure(e: &(dyn Error + 'static)) -> WireFailure {
    let mut found = WireFailure::Network;
    each_cause(e, &mut |cause| {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            // A plain-HTTP answer ("HTTP/1.1 400...") read as a TLS record: its first byte is
            // no TLS content type.
            found = match tls {
                rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
                    WireFailure::NotTls
                }
                _ if found == WireFailure::NotTls => WireFailure::NotTls,
                _ => WireFailure::Tls,
            };
        }
    });
    found
}

/// An error and its causes on one line (`a: b: c`), a cause already quoted by the one before it
/// left out. Never the Debug form.
pub fn chain_text(e: &(dyn Error + 'static)) -> String {
    chain_text_with(e, &|_| None)
}

/// As [`chain_text`], with `render` giving the text of the causes whose Display is not meant for
/// a person (`None`: their Display).
pub fn chain_text_with(
    e: &(dyn Error + 'static),
    render: &dyn Fn(&(dyn Error + 'static)) -> Option<String>,
) -> String {
    let mut out = String::new();
    each_cause(e, &mut |cause| {
        let text = render(cause).unwrap_or_else(|| cause.to_string());
        if text.is_empty() || out.contains(&text) {
            return;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_http_answer_to_a_tls_hello_is_told_apart() {
        let tls = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        assert_eq!(wire_failure(&io), WireFailure::NotTls);
        let cert = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::General("x".into()),
        );
        assert_eq!(wire_failure(&cert), WireFailure::Tls);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(wire_failure(&refused), WireFailure::Network);
    }

    #[test]
    fn the_chain_is_told_once_each() {
        let tls = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let text = chain_text(&io);
        assert_eq!(text, "received corrupt message of type InvalidContentType");
    }
}
