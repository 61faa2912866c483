//! Encode/decode round trip: random mixes of every value kind, written
//! through the recorder's value encoder and ring writer, decode to the same
//! values (strings cut at the documented bound, values that do not fit
//! dropped and flagged, never garbled).

use caro_format::layout::LaneClass;
use caro_format::slot::{RecordHead, RecordKind};
use caro_format::value::MAX_STR;
use caro_format::{decode, Value, ValueWriter};
use caro_recorder::ring::Ring;
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::U64),
        any::<i64>().prop_map(Value::I64),
        any::<f64>().prop_map(Value::F64),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::StaticStr),
        ".{0,160}".prop_map(|text| Value::Str {
            text,
            truncated: false
        }),
        any::<u32>().prop_map(Value::Redacted),
        Just(Value::Message),
        any::<u128>().prop_map(Value::U128),
        any::<i128>().prop_map(Value::I128),
    ]
}

/// What the decoder must give back for `v`.
fn expected(v: &Value) -> Value {
    match v {
        Value::Str { text, .. } if text.len() > MAX_STR => {
            let mut n = MAX_STR;
            while !text.is_char_boundary(n) {
                n -= 1;
            }
            Value::Str {
                text: text[..n].to_owned(),
                truncated: true,
            }
        }
        other => other.clone(),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_field_mixes_round_trip(
        records in prop::collection::vec(
            (prop::collection::btree_map(0usize..32, value(), 0..12), any::<bool>(), 1u32..u32::MAX),
            1..20,
        )
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.ring");
        let ring = Ring::open_or_create(&path, 1 << 20, 1).unwrap();
        let mut written = Vec::new();
        for (i, (fields, span_new, parent)) in records.iter().enumerate() {
            let mut w = if *span_new { ValueWriter::with_parent(*parent) } else { ValueWriter::new() };
            for (f, v) in fields {
                w.value(*f, v);
            }
            let kind = if *span_new { RecordKind::SpanNew } else { RecordKind::Event };
            let head = RecordHead {
                time_ns: 1_000 + i as u64,
                callsite: 99,
                span: i as u32 + 1,
                thread: 7,
                kind: kind.code(),
                flags: w.truncated() as u8,
            };
            ring.write(LaneClass::Main, 0, &head, w.bytes());
            written.push((fields.clone(), *span_new, *parent, w.truncated()));
        }
        drop(ring);
        let d = decode(&std::fs::read(&path).unwrap()).unwrap();
        prop_assert_eq!(d.totals().corrupt, 0);
        prop_assert_eq!(d.records.len(), written.len());
        for (r, (fields, span_new, parent, truncated)) in d.records.iter().zip(&written) {
            prop_assert_eq!(r.truncated, *truncated);
            if *span_new {
                prop_assert_eq!(r.parent, *parent);
            }
            // Every value decoded is the one written for its field, in
            // order; only a flagged record may lack some (those that did
            // not fit).
            let mut last = None;
            for got in &r.values {
                let f = usize::from(got.field);
                prop_assert!(last.is_none_or(|l| f > l));
                last = Some(f);
                let v = fields.get(&f).expect("a field that was written");
                prop_assert!(same(&got.value, &expected(v)), "{:?} vs {:?}", got.value, v);
            }
            if !truncated {
                prop_assert_eq!(r.values.len(), fields.len());
            } else {
                prop_assert!(r.values.len() < fields.len());
            }
        }
    }
}
