// Pinpoint's journey JSON <-> the canvas's nodes and edges, and the automatic layout.
// The canvas keeps each activity's members (without its next-activity pointers) in node.data.config;
// the pointers are the edges, keyed by the source handle they leave from.

export const ENTRY = "_entry"; // the journey's entry (StartCondition); not an activity, its layout key

export const KINDS = {
  EMAIL: { label: "Email", message: true },
  SMS: { label: "SMS", message: true },
  PUSH: { label: "Push", message: true },
  CUSTOM: { label: "Custom", message: true },
  Wait: { label: "Wait" },
  ConditionalSplit: { label: "Yes/no split" },
  MultiCondition: { label: "Multivariate split" },
  RandomSplit: { label: "Random split" },
  Holdout: { label: "Holdout" },
  ContactCenter: { label: "Contact center (unsupported)", hidden: true },
};

export const PALETTE = ["EMAIL", "SMS", "PUSH", "CUSTOM", "Wait", "ConditionalSplit", "MultiCondition", "RandomSplit", "Holdout"];

const STARTERS = {
  EMAIL: () => ({}),
  SMS: () => ({}),
  PUSH: () => ({}),
  CUSTOM: () => ({}),
  Wait: () => ({ WaitTime: { WaitFor: "P1D" } }),
  ConditionalSplit: () => ({ Condition: { Operator: "ALL", Conditions: [] } }),
  MultiCondition: () => ({ Branches: [{ Condition: {} }, { Condition: {} }] }),
  RandomSplit: () => ({ Branches: [{ Percentage: 50 }, { Percentage: 50 }] }),
  Holdout: () => ({ Percentage: 10 }),
};

export function starterConfig(kind) {
  return (STARTERS[kind] || (() => ({})))();
}

const clone = (value) => JSON.parse(JSON.stringify(value ?? {}));

// The outputs (source handles) of an activity, in order: [{id, label}].
export function outputsOf(kind, config) {
  if (kind === ENTRY) return [{ id: "next", label: "" }];
  if (kind === "ConditionalSplit") return [{ id: "true", label: "Yes" }, { id: "false", label: "No" }];
  if (kind === "MultiCondition") {
    const branches = (config.Branches || []).map((_b, i) => ({ id: `b${i}`, label: `Branch ${i + 1}` }));
    return [...branches, { id: "default", label: "Else" }];
  }
  if (kind === "RandomSplit") {
    return (config.Branches || []).map((b, i) => ({ id: `b${i}`, label: `Path ${i + 1} · ${b.Percentage ?? "?"}%` }));
  }
  if (kind === "ContactCenter" || kind in KINDS) return [{ id: "next", label: "" }];
  return [];
}

// Reads the next-activity pointers out of an activity's members: [[handle, target], ...].
function pointers(kind, config) {
  const found = [];
  if (kind === "ConditionalSplit") {
    if (config.TrueActivity) found.push(["true", config.TrueActivity]);
    if (config.FalseActivity) found.push(["false", config.FalseActivity]);
  } else if (kind === "MultiCondition") {
    (config.Branches || []).forEach((b, i) => b && b.NextActivity && found.push([`b${i}`, b.NextActivity]));
    if (config.DefaultActivity) found.push(["default", config.DefaultActivity]);
  } else if (kind === "RandomSplit") {
    (config.Branches || []).forEach((b, i) => b && b.NextActivity && found.push([`b${i}`, b.NextActivity]));
  } else if (config.NextActivity) {
    found.push(["next", config.NextActivity]);
  }
  return found;
}

function withoutPointers(kind, config) {
  const copy = clone(config);
  delete copy.NextActivity;
  delete copy.TrueActivity;
  delete copy.FalseActivity;
  delete copy.DefaultActivity;
  if (Array.isArray(copy.Branches)) copy.Branches.forEach((b) => b && delete b.NextActivity);
  return copy;
}

export function kindOf(activity) {
  return Object.keys(KINDS).find((k) => activity && activity[k] !== undefined && activity[k] !== null) || null;
}

export const edgeId = (source, handle) => `${source}:${handle}`;

export function makeEdge(source, handle, target) {
  return { id: edgeId(source, handle), source, sourceHandle: handle, target, targetHandle: "in" };
}

// definition + layout -> {nodes, edges}; activities without a position get the automatic layout.
export function toGraph(definition, layout) {
  const activities = definition.Activities || {};
  const nodes = [];
  const edges = [];
  nodes.push({
    id: ENTRY,
    type: "entry",
    deletable: false,
    position: { x: 0, y: 0 },
    data: { kind: ENTRY, config: clone(definition.StartCondition || {}) },
  });
  if (definition.StartActivity) edges.push(makeEdge(ENTRY, "next", definition.StartActivity));
  for (const [id, activity] of Object.entries(activities)) {
    const kind = kindOf(activity) || "CUSTOM";
    const config = activity[kind] || {};
    const rest = clone(activity);
    delete rest[kind];
    nodes.push({
      id,
      type: "activity",
      position: { x: 0, y: 0 },
      data: { kind, config: withoutPointers(kind, config), extra: rest },
    });
    for (const [handle, target] of pointers(kind, config)) edges.push(makeEdge(id, handle, target));
  }
  const known = new Set(nodes.map((n) => n.id));
  const kept = edges.filter((e) => known.has(e.target));
  const auto = autoLayout(nodes, kept);
  for (const node of nodes) {
    const saved = layout && layout[node.id];
    node.position = saved && Number.isFinite(saved.x) && Number.isFinite(saved.y) ? { x: saved.x, y: saved.y } : auto[node.id];
  }
  return { nodes, edges: kept };
}

// A layered layout: the column is the breadth-first depth from the entry, rows in visiting order;
// activities the entry does not reach go in one more column.
export function autoLayout(nodes, edges) {
  const next = new Map();
  for (const e of edges) {
    if (!next.has(e.source)) next.set(e.source, []);
    next.get(e.source).push(e);
  }
  const order = (id) => {
    const node = nodes.find((n) => n.id === id);
    const handles = node ? outputsOf(node.data.kind, node.data.config).map((o) => o.id) : [];
    return (next.get(id) || []).slice().sort((a, b) => handles.indexOf(a.sourceHandle) - handles.indexOf(b.sourceHandle));
  };
  const depth = new Map([[ENTRY, 0]]);
  const queue = [ENTRY];
  while (queue.length) {
    const id = queue.shift();
    for (const e of order(id)) {
      if (!depth.has(e.target)) {
        depth.set(e.target, depth.get(id) + 1);
        queue.push(e.target);
      }
    }
  }
  const maxDepth = Math.max(0, ...depth.values());
  for (const n of nodes) if (!depth.has(n.id)) depth.set(n.id, maxDepth + 1);
  const columns = new Map();
  const visit = [ENTRY, ...[...depth.keys()].filter((id) => id !== ENTRY)];
  for (const id of visit) {
    const d = depth.get(id);
    if (!columns.has(d)) columns.set(d, []);
    columns.get(d).push(id);
  }
  const positions = {};
  const tallest = Math.max(...[...columns.values()].map((c) => c.length));
  for (const [d, ids] of columns) {
    const offset = ((tallest - ids.length) * 170) / 2;
    ids.forEach((id, row) => {
      positions[id] = { x: 40 + d * 300, y: 40 + offset + row * 170 };
    });
  }
  return positions;
}

// {nodes, edges} + the members the canvas does not edit -> the WriteJourneyRequest and the layout.
export function toDefinition(base, name, nodes, edges) {
  const definition = clone(base);
  delete definition.Activities;
  delete definition.StartActivity;
  if (name !== undefined) definition.Name = name;
  const out = new Map(edges.map((e) => [edgeId(e.source, e.sourceHandle), e.target]));
  const activities = {};
  const layout = {};
  for (const node of nodes) {
    layout[node.id] = { x: Math.round(node.position.x), y: Math.round(node.position.y) };
    const { kind, config } = node.data;
    if (kind === ENTRY) {
      if (Object.keys(config || {}).length) definition.StartCondition = clone(config);
      else delete definition.StartCondition;
      const start = out.get(edgeId(ENTRY, "next"));
      if (start) definition.StartActivity = start;
      continue;
    }
    const members = clone(config);
    const target = (handle) => out.get(edgeId(node.id, handle));
    if (kind === "ConditionalSplit") {
      if (target("true")) members.TrueActivity = target("true");
      if (target("false")) members.FalseActivity = target("false");
    } else if (kind === "MultiCondition" || kind === "RandomSplit") {
      (members.Branches || []).forEach((b, i) => target(`b${i}`) && (b.NextActivity = target(`b${i}`)));
      if (kind === "MultiCondition" && target("default")) members.DefaultActivity = target("default");
    } else if (target("next")) {
      members.NextActivity = target("next");
    }
    dropEmptyConditions(kind, members);
    activities[node.id] = { ...clone(node.data.extra || {}), [kind]: members };
  }
  definition.Activities = activities;
  return { definition, layout };
}

// A condition not chosen yet is left out rather than sent empty (the service refuses an empty one).
function dropEmptyConditions(kind, members) {
  const empty = (c) => !c || Object.keys(c).length === 0;
  if (kind === "ConditionalSplit" && members.Condition) {
    members.Condition.Conditions = (members.Condition.Conditions || []).filter((c) => !empty(c));
  }
  if (kind === "MultiCondition") (members.Branches || []).forEach((b) => b && empty(b.Condition) && delete b.Condition);
}

// A new activity id: the type's name and the first free number (Pinpoint ids are alphanumeric).
export function newActivityId(kind, taken) {
  const stem = kind.toLowerCase().replace(/[^a-z0-9]/g, "");
  for (let i = 1; ; i += 1) if (!taken.has(`${stem}${i}`)) return `${stem}${i}`;
}

// True when `target` can already reach `source` (a new edge source -> target would close a loop).
export function reaches(edges, from, to) {
  const seen = new Set();
  const stack = [from];
  while (stack.length) {
    const id = stack.pop();
    if (id === to) return true;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const e of edges) if (e.source === id) stack.push(e.target);
  }
  return false;
}

// The message activities a split may test the events of: those that lead to it.
export function earlierMessages(nodes, edges, id) {
  return nodes.filter((n) => n.id !== id && KINDS[n.data.kind]?.message && reaches(edges, n.id, id)).map((n) => n.id);
}
