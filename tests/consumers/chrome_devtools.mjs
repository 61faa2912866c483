// Loads a Chrome trace-event JSON file with Chrome DevTools' own trace
// model (the Performance panel's parser, published as
// @paulirish/trace_engine) and prints, as one JSON object, what DevTools
// would draw: each process/thread track with its name and its tree of
// slices, as DevTools nested them.
//
//   node tests/consumers/chrome_devtools.mjs TRACE.json
//
// {"errors": [...], "processes": {"PID": "name"},
//  "tracks": [{"pid", "tid", "name", "slices", "roots": [{"name", "trace_id", "ts", "dur", "children": [...]}]}]}
//
// `errors` holds what the model threw or logged as an error; `slices` is
// how many complete events DevTools placed on the track (a slice that
// overlaps its neighbours without nesting is silently left out of the
// tree, and so is not drawn).

import fs from 'node:fs';
import * as Trace from '@paulirish/trace_engine';
import {polyfillDOMRect} from '@paulirish/trace_engine/analyze-trace.mjs';

const errors = [];
// The model reports malformed input on the console and carries on.
for (const level of ['error', 'warn']) {
  console[level] = (...args) => errors.push(`console.${level}: ${args.join(' ')}`);
}
// The model measures layout with DOMRect, which Node lacks (its README).
polyfillDOMRect();

const file = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const events = Array.isArray(file) ? file : file.traceEvents;
const model = Trace.TraceModel.Model.createWithAllHandlers();
try {
  await model.parse(events);
} catch (e) {
  errors.push(`parse: ${e.stack ?? e}`);
}
const data = model.parsedTrace()?.data;
if (!data) {
  errors.push('parse: no parsed trace');
}

const node = n => ({
  name: n.entry.name,
  trace_id: n.entry.args?.trace_id ?? null,
  ts: n.entry.ts,
  dur: n.entry.dur ?? 0,
  children: n.children.map(node),
});
const processes = {};
for (const [pid, e] of data?.Meta.processNames ?? []) {
  processes[pid] = e.args?.name ?? null;
}
const tracks = [];
for (const [pid, proc] of data?.Renderer.processes ?? []) {
  for (const [tid, thread] of proc.threads) {
    const roots = [...(thread.tree?.roots ?? [])].map(node);
    let slices = 0;
    const count = n => { slices += n.entry.ph === 'X' ? 1 : 0; n.children.forEach(count); };
    (thread.tree?.roots ?? []).forEach(count);
    tracks.push({pid, tid, name: thread.name ?? null, slices, roots});
  }
}
process.stdout.write(JSON.stringify({errors, processes, tracks}) + '\n');
