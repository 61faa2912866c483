//! `export --format folded`: folded stacks for inferno or flamegraph.pl.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::assemble::trace::Trace;

pub fn write_folded(traces: &[Trace], out: &mut dyn Write) -> io::Result<()> {
    let mut stacks: BTreeMap<String, u64> = BTreeMap::new();
    for t in traces {
        let mut path: Vec<String> = Vec::new();
        for (i, depth) in t.walk() {
            path.truncate(depth);
            // A frame separator or a space in a name would split it.
            path.push(t.spans[i].name.replace([';', ' ', '\n'], "_"));
            let us = stacks.entry(path.join(";")).or_default();
            *us = us.saturating_add(t.self_ns(i) / 1000);
        }
    }
    for (stack, us) in stacks {
        if us > 0 {
            writeln!(out, "{stack} {us}")?;
        }
    }
    Ok(())
}
