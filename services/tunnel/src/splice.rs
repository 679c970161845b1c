//! Copying between two byte streams in both directions, as the bridge does
//! between the client's and the agent's QUIC streams and the ends do between a
//! QUIC stream and a TCP connection. Back-pressure is the copy itself: a slow
//! reader stops the writer's reads, and QUIC flow control stops the far peer.
//! EOF in one direction is passed on as a half-close (`shutdown`, which for a
//! quinn `SendStream` finishes the stream) while the other direction goes on.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

/// Copy buffer per direction.
pub const BUFFER: usize = 64 * 1024;

/// What a splice moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spliced {
    /// Bytes from `a` to `b` (client → target: "up").
    pub a_to_b: u64,
    /// Bytes from `b` to `a` ("down").
    pub b_to_a: u64,
}

/// Copies `a_read → b_write` and `b_read → a_write` until both directions
/// reach EOF. The first error ends both directions at once (the connection is
/// broken; the other direction would otherwise wait for a peer that may never
/// send again) and is returned with the count of a direction that had
/// finished, so the caller can pass the reason on (a QUIC stream reset's code).
pub async fn splice<AR, AW, BR, BW>(
    mut a_read: AR,
    mut a_write: AW,
    mut b_read: BR,
    mut b_write: BW,
) -> Result<Spliced, (std::io::Error, Spliced)>
where
    AR: AsyncRead + Unpin,
    AW: AsyncWrite + Unpin,
    BR: AsyncRead + Unpin,
    BW: AsyncWrite + Unpin,
{
    let up = async {
        let n = copy(&mut a_read, &mut b_write).await?;
        b_write.shutdown().await.map(|()| n)
    };
    let down = async {
        let n = copy(&mut b_read, &mut a_write).await?;
        a_write.shutdown().await.map(|()| n)
    };
    tokio::pin!(up, down);
    let (mut a_to_b, mut b_to_a) = (None, None);
    while a_to_b.is_none() || b_to_a.is_none() {
        tokio::select! {
            done = &mut up, if a_to_b.is_none() => match done {
                Ok(n) => a_to_b = Some(n),
                Err(e) => return Err((e, Spliced { a_to_b: 0, b_to_a: b_to_a.unwrap_or(0) })),
            },
            done = &mut down, if b_to_a.is_none() => match done {
                Ok(n) => b_to_a = Some(n),
                Err(e) => return Err((e, Spliced { a_to_b: a_to_b.unwrap_or(0), b_to_a: 0 })),
            },
        }
    }
    Ok(Spliced {
        a_to_b: a_to_b.unwrap_or(0),
        b_to_a: b_to_a.unwrap_or(0),
    })
}

async fn copy<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    r: &mut R,
    w: &mut W,
) -> std::io::Result<u64> {
    let mut buffered = tokio::io::BufReader::with_capacity(BUFFER, r);
    tokio::io::copy_buf(&mut buffered, w).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt};

    #[tokio::test]
    async fn both_directions_are_copied_and_half_closed() {
        // client <-> (a) splice (b) <-> target
        let (client, a) = duplex(1024);
        let (b, target) = duplex(1024);
        let (a_read, a_write) = tokio::io::split(a);
        let (b_read, b_write) = tokio::io::split(b);
        let relay = tokio::spawn(splice(a_read, a_write, b_read, b_write));

        let (mut client_read, mut client_write) = tokio::io::split(client);
        let (mut target_read, mut target_write) = tokio::io::split(target);
        let payload = vec![7u8; 300_000]; // larger than the pipes: back-pressure
        let sent = payload.clone();
        let writer = tokio::spawn(async move {
            client_write.write_all(&sent).await.unwrap();
            client_write.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        target_read.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, payload, "EOF reached the target after every byte");
        writer.await.unwrap();
        target_write.write_all(b"answer").await.unwrap();
        target_write.shutdown().await.unwrap();
        let mut answer = Vec::new();
        client_read.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer, b"answer");
        let counts = relay.await.unwrap().unwrap();
        assert_eq!(
            counts,
            Spliced {
                a_to_b: 300_000,
                b_to_a: 6
            }
        );
    }
}
