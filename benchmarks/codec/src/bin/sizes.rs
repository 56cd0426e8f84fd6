//! Prints the batch size each codec produces for the benchmark inputs, so encode times can be
//! read next to the compression each side achieved: `cargo run --release --bin sizes`.

use bytes::BytesMut;
use codec_bench::*;
use kafka_protocol::records::Compression;

fn main() {
    println!("| records | codec | ours (bytes) | kafka-protocol 0.18 (bytes) |");
    println!("|---|---|---|---|");
    for (size, count) in [(100, 640), (1024, 64)] {
        let inputs = inputs(count, size);
        let peer = peer_records(&inputs);
        for codec in
            [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd]
        {
            let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
            encode_ours(&inputs, codec, &mut a);
            encode_peer(&peer, peer_compression(codec), &mut b);
            println!("| {count} × {size} B | {codec:?} | {} | {} |", a.len(), b.len());
        }
    }
}
