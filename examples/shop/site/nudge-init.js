// Nudge's snippet, as a shop installs it: the stub queues calls until /sdk/nudge.js has loaded.
// Loaded first, so that the page's own scripts can call nudge() at once.
// Events go in batches every quarter second (the default is one), so the demo reacts at once.
window.nudge = window.nudge || function () { (nudge.q = nudge.q || []).push(arguments); };
nudge('init', { writeKey: 'demo-write-key', flushIntervalMs: 250 });
