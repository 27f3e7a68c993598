//! Cost of the pure desired-state path: validate + build of a full platform, and of rendering
//! (validate + build + YAML) 1,000 platforms. Target: under 1 ms per platform.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails by panicking

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use storefront_operator::build::secrets::CountingSecrets;
use storefront_operator::build::{self, ClusterInputs};
use storefront_operator::crd::EcommercePlatform;
use storefront_operator::render;

fn full_platform() -> EcommercePlatform {
    let yaml = include_str!("../../manifests/platform.yaml");
    let mut platforms = render::parse_platforms(yaml)
        .expect("manifests/platform.yaml parses")
        .platforms;
    let mut platform = platforms.remove(0);
    platform.metadata.uid = Some("0b7c2a4e-1111-4222-8333-944445555666".into());
    platform
}

fn benches(c: &mut Criterion) {
    let platform = full_platform();
    let inputs = ClusterInputs::offline();

    c.bench_function("validate+build full platform", |b| {
        b.iter(|| {
            let validated = build::validate(
                black_box(&platform),
                &inputs,
                &mut CountingSecrets::default(),
            )
            .expect("valid");
            black_box(build::build(&validated))
        })
    });

    let validated =
        build::validate(&platform, &inputs, &mut CountingSecrets::default()).expect("valid");
    c.bench_function("build only (validated) full platform", |b| {
        b.iter(|| black_box(build::build(black_box(&validated))))
    });

    let platforms: Vec<EcommercePlatform> = (0..1000)
        .map(|i| {
            let mut p = platform.clone();
            p.metadata.name = Some(format!("shop-{i}"));
            p
        })
        .collect();
    let mut group = c.benchmark_group("render 1000 platforms");
    group.throughput(Throughput::Elements(1000));
    group.sample_size(10);
    group.bench_function("validate+build+yaml", |b| {
        b.iter(|| {
            let mut bytes = 0;
            for p in &platforms {
                let objects =
                    render::render_platform(p, &mut CountingSecrets::default()).expect("renders");
                bytes += build::to_yaml_stream(&objects).len();
            }
            black_box(bytes)
        })
    });
    group.bench_function("validate+build", |b| {
        b.iter(|| {
            let mut count = 0;
            for p in &platforms {
                count += render::render_platform(p, &mut CountingSecrets::default())
                    .expect("renders")
                    .len();
            }
            black_box(count)
        })
    });
    group.finish();
}

criterion_group!(render_benches, benches);
criterion_main!(render_benches);
