//! DescribeLogDirs (key 35), v1–4: the receiving broker's single log directory,
//! `/tmp/kafka-test-broker/<broker id>` (nothing is written there; logs live in memory), with
//! every partition it holds a replica of, its size in bytes (the sum of its stored batches) and
//! offset lag 0 (replicas share one log, so none lags). Volume sizes are unknown (-1).

use kafka_protocol::generated::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::generated::{DescribeLogDirsRequest, DescribeLogDirsResponse};

use super::Ctx;

/// The log directory the test broker reports for broker `id`.
pub fn log_dir(id: i32) -> String {
    format!("/tmp/kafka-test-broker/{id}")
}

pub(crate) fn describe(ctx: &Ctx<'_>, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    let st = ctx.shared.state();
    let wanted = |topic: &str, partition: i32| match &req.topics {
        None => true,
        Some(ts) => ts.iter().any(|t| t.topic == topic && t.partitions.contains(&partition)),
    };
    let topics = st
        .topics
        .values()
        .filter_map(|t| {
            let partitions: Vec<DescribeLogDirsPartition> = t
                .partitions
                .iter()
                .filter(|p| p.replicas.contains(&ctx.broker) && wanted(&t.name, p.index))
                .map(|p| DescribeLogDirsPartition {
                    partition_index: p.index,
                    partition_size: i64::try_from(p.log.size_bytes).unwrap_or(i64::MAX),
                    offset_lag: 0,
                    is_future_key: false,
                    ..Default::default()
                })
                .collect();
            (!partitions.is_empty()).then(|| DescribeLogDirsTopic {
                name: t.name.clone(),
                partitions,
                ..Default::default()
            })
        })
        .collect();
    DescribeLogDirsResponse {
        results: vec![DescribeLogDirsResult { log_dir: log_dir(ctx.broker), topics, ..Default::default() }],
        ..Default::default()
    }
}

pub(crate) fn error_response(version: i16, code: i16) -> DescribeLogDirsResponse {
    DescribeLogDirsResponse { error_code: if version >= 3 { code } else { 0 }, ..Default::default() }
}
