//! Parser throughput over the whole google corpus (../shared/corpus/google), with run_all.py's
//! ipv4 defines: criterion reports it both as scripts/s and as MB/s.

use std::collections::BTreeMap;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use stackdrill::script::parse_source;
use stackdrill::suite::scripts_under;

fn corpus() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/google");
    scripts_under(&root)
        .expect("corpus directory")
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

fn ipv4_defines() -> BTreeMap<String, String> {
    [
        ("TFO_COOKIE", "3021b9d889017eeb"),
        ("CODE", "host_unreachable"),
        ("CMSG_LEVEL_IP", "SOL_IP"),
        ("CMSG_TYPE_RECVERR", "IP_RECVERR"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn parse_all(scripts: &[(String, String)], defines: &BTreeMap<String, String>) -> usize {
    scripts
        .iter()
        .map(|(name, text)| {
            parse_source(name, text, defines)
                .expect("corpus script parses")
                .events
                .len()
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    let scripts = corpus();
    let defines = ipv4_defines();
    let bytes: usize = scripts.iter().map(|(_, t)| t.len()).sum();

    let mut by_script = c.benchmark_group("corpus scripts");
    by_script.throughput(Throughput::Elements(scripts.len() as u64));
    by_script.bench_function(format!("parse {} scripts", scripts.len()), |b| {
        b.iter(|| parse_all(&scripts, &defines))
    });
    by_script.finish();

    let mut by_byte = c.benchmark_group("corpus bytes");
    by_byte.throughput(Throughput::Bytes(bytes as u64));
    by_byte.bench_function(format!("parse {bytes} bytes"), |b| {
        b.iter(|| parse_all(&scripts, &defines))
    });
    by_byte.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
