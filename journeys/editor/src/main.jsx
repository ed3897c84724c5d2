// Engage's journey editor: a React Flow canvas mounted on the Django page's #journey-editor.
// The page passes the journey in a json_script (#journey-data); the canvas saves Pinpoint's journey
// JSON (Activities + StartActivity + the other members, untouched) and the layout through the
// page's JSON views.
import React, { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import {
  Background,
  Controls,
  Handle,
  MarkerType,
  Position,
  ReactFlow,
  ReactFlowProvider,
  useEdgesState,
  useNodesInitialized,
  useNodesState,
  useReactFlow,
  useUpdateNodeInternals,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import "./editor.css";
import { ENTRY, KINDS, PALETTE, makeEdge, newActivityId, outputsOf, reaches, starterConfig, toDefinition, toGraph } from "./graph.js";
import { Panel } from "./panel.jsx";
import { SettingsPanel, isSettingsError, settingsOf, withSettings } from "./settings.jsx";

const DRAG_TYPE = "application/x-engage-activity";

function summary(kind, config, page) {
  if (kind === ENTRY) {
    if (config.SegmentStartCondition) {
      const id = config.SegmentStartCondition.SegmentId;
      return id ? `Segment: ${page.segments.find((s) => s.id === id)?.name || id}` : "Choose a segment";
    }
    if (config.EventStartCondition) return `Event: ${config.EventStartCondition.EventFilter?.Dimensions?.EventType?.Values?.[0] || "?"}`;
    return "Choose how participants enter";
  }
  if (KINDS[kind]?.message && kind !== "CUSTOM") return config.TemplateName ? `Template: ${config.TemplateName}` : "Choose a template";
  if (kind === "CUSTOM") return config.DeliveryUri || "Custom delivery";
  if (kind === "Wait") return config.WaitTime?.WaitFor ? `For ${config.WaitTime.WaitFor}` : config.WaitTime?.WaitUntil ? `Until ${config.WaitTime.WaitUntil}` : "Set the wait";
  if (kind === "Holdout") return `${config.Percentage ?? "?"}% held out`;
  if (kind === "ConditionalSplit") return `${(config.Condition?.Conditions || []).length} condition(s), ${config.Condition?.Operator || "ALL"}`;
  if (kind === "MultiCondition") return `${(config.Branches || []).length} branch(es) + else`;
  if (kind === "RandomSplit") return `${(config.Branches || []).length} paths`;
  return "";
}

function Metrics({ metrics }) {
  if (!metrics) return null;
  const shown = ["entered", "waiting", "sent", "failed"].filter((k) => metrics[k] !== undefined);
  return (
    <dl className="je-metrics" aria-label="Metrics">
      {shown.map((k) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{metrics[k]}</dd>
        </div>
      ))}
    </dl>
  );
}

function NodeBody({ id, data, page }) {
  const updateNodeInternals = useUpdateNodeInternals();
  const outputs = outputsOf(data.kind, data.config);
  const handleKey = outputs.map((o) => o.id).join(",");
  useEffect(() => updateNodeInternals(id), [id, handleKey, updateNodeInternals]);
  const isEntry = data.kind === ENTRY;
  const branchCounts = data.metrics?.branches || {};
  return (
    <div className={`je-node je-kind-${data.kind.toLowerCase().replace(/[^a-z]/g, "")}${data.error ? " je-invalid" : ""}`}>
      {!isEntry && <Handle type="target" id="in" position={Position.Left} className="je-in" />}
      <div className="je-node-kind">{isEntry ? "Journey entry" : KINDS[data.kind]?.label || data.kind}</div>
      {!isEntry && <div className="je-node-id">{id}</div>}
      <div className="je-node-summary">{summary(data.kind, data.config, page)}</div>
      {data.error && (
        <div className="je-node-error" id={`je-error-${id}`}>
          <span aria-hidden="true">⚠ </span>
          {data.error}
        </div>
      )}
      <Metrics metrics={data.metrics} />
      <ul className="je-outputs">
        {outputs.map((o) => (
          <li key={o.id} className="je-output">
            {o.label && <span>{o.label}</span>}
            {branchCounts[o.id] !== undefined && <span className="je-branch-count"> · {branchCounts[o.id]}</span>}
            <Handle type="source" id={o.id} position={Position.Right} className={`je-out je-out-${o.id}`} />
          </li>
        ))}
      </ul>
    </div>
  );
}

// The server-rendered outline below the canvas, replaced by the saved journey's.
async function refreshOutline() {
  const outline = document.getElementById("outline");
  if (!outline) return;
  try {
    const response = await fetch(window.location.href, { credentials: "same-origin" });
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("outline");
    if (response.ok && fresh) outline.innerHTML = fresh.innerHTML;
  } catch (_e) {
    /* the outline stays as it was; reloading the page shows the saved journey */
  }
}

function csrfHeaders(page) {
  return { "Content-Type": "application/json", "X-CSRFToken": page.csrfToken, Accept: "application/json" };
}

async function postJSON(page, url, body) {
  const response = await fetch(url, { method: "POST", headers: csrfHeaders(page), body: JSON.stringify(body), credentials: "same-origin" });
  let payload = {};
  try {
    payload = await response.json();
  } catch (_e) {
    payload = { errors: [["", `The server answered ${response.status}.`]] };
  }
  return { ok: response.ok, status: response.status, payload };
}

const STATE_LABELS = { DRAFT: "Draft", ACTIVE: "Active", PAUSED: "Paused", COMPLETED: "Completed", CANCELLED: "Cancelled", CLOSED: "Closed" };

function Editor({ page }) {
  const initial = useMemo(() => toGraph(page.definition || {}, page.layout || {}), [page]);
  const [nodes, setNodes, onNodesChange] = useNodesState(initial.nodes);
  const [edges, setEdges, onEdgesChange] = useEdgesState(initial.edges);
  const [name, setName] = useState(page.definition?.Name || "");
  const [state, setState] = useState(page.state || "DRAFT");
  const [selectedId, setSelectedId] = useState(null);
  const [status, setStatus] = useState({ text: "", kind: "" });
  const [generalErrors, setGeneralErrors] = useState([]);
  const [metricsNote, setMetricsNote] = useState(page.metricsNote || "");
  const [busy, setBusy] = useState(false);
  // The journey-wide members (schedule, limits, quiet time…), edited in the Journey settings panel.
  const [settings, setSettings] = useState(() => settingsOf(page.definition || {}));
  const [settingsOpen, setSettingsOpen] = useState(false);
  const [settingsErrors, setSettingsErrors] = useState([]);
  const base = useMemo(() => withSettings(page.definition || {}, settings), [page, settings]);
  const settingsButton = useRef(null);
  const openSettings = useCallback((open) => {
    setSettingsOpen(open);
    if (open) setTimeout(() => panelRef.current?.focus(), 0);
  }, []);
  const wrapper = useRef(null);
  const panelRef = useRef(null);
  const { screenToFlowPosition, fitView } = useReactFlow();
  // A saved or API-made journey is shown whole once its nodes are measured (a new one starts at
  // the top left, where the entry is).
  const nodesInitialized = useNodesInitialized();
  const fitted = useRef(false);
  useEffect(() => {
    if (nodesInitialized && !fitted.current && initial.nodes.length > 1) {
      fitted.current = true;
      fitView({ maxZoom: 1, padding: 0.1 });
    }
  }, [nodesInitialized, fitView, initial]);
  const readOnly = !page.canEdit || !["DRAFT"].includes(state);
  const nodeTypes = useMemo(() => {
    const render = (props) => <NodeBody {...props} page={page} />;
    return { activity: render, entry: render };
  }, [page]);

  const selected = nodes.find((n) => n.id === selectedId) || null;

  const setNodeData = useCallback(
    (id, change) => setNodes((all) => all.map((n) => (n.id === id ? { ...n, data: { ...n.data, ...change(n.data) } } : n))),
    [setNodes],
  );

  const connect = useCallback(
    (source, handle, target) => {
      setEdges((all) => {
        const rest = all.filter((e) => !(e.source === source && e.sourceHandle === handle));
        if (!target || target === source || reaches(rest, target, source)) return rest;
        return [...rest, makeEdge(source, handle, target)];
      });
    },
    [setEdges],
  );

  const isValidConnection = useCallback(
    (c) => c.source !== c.target && c.target !== ENTRY && !reaches(edges, c.target, c.source),
    [edges],
  );

  const onConnect = useCallback((c) => connect(c.source, c.sourceHandle || "next", c.target), [connect]);

  const addActivity = useCallback(
    (kind, position) => {
      const taken = new Set(nodes.map((n) => n.id));
      const id = newActivityId(kind, taken);
      const where = position || {
        x: Math.max(...nodes.map((n) => n.position.x)) + 300,
        y: 40 + (nodes.length % 4) * 60,
      };
      setNodes((all) => [
        ...all.map((n) => ({ ...n, selected: false })),
        { id, type: "activity", position: where, selected: true, data: { kind, config: starterConfig(kind), extra: {} } },
      ]);
      setSelectedId(id);
      setStatus({ text: `${KINDS[kind].label} activity ${id} added.`, kind: "" });
      return id;
    },
    [nodes, setNodes],
  );

  const remove = useCallback(
    (id) => {
      if (id === ENTRY) return;
      setNodes((all) => all.filter((n) => n.id !== id));
      setEdges((all) => all.filter((e) => e.source !== id && e.target !== id));
      setSelectedId(null);
      setStatus({ text: `Activity ${id} deleted.`, kind: "" });
    },
    [setNodes, setEdges],
  );

  const onDrop = useCallback(
    (event) => {
      const kind = event.dataTransfer.getData(DRAG_TYPE);
      if (!kind || readOnly) return;
      event.preventDefault();
      const position = screenToFlowPosition({ x: event.clientX, y: event.clientY });
      addActivity(kind, { x: position.x - 90, y: position.y - 30 });
    },
    [addActivity, readOnly, screenToFlowPosition],
  );

  const onDragOver = useCallback((event) => {
    if (event.dataTransfer.types.includes(DRAG_TYPE)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  }, []);

  // Enter on a focused node opens its settings and moves the focus into the panel.
  const onKeyDown = useCallback((event) => {
    const element = event.target.closest && event.target.closest(".react-flow__node");
    if (!element || !wrapper.current.contains(element)) return;
    if (event.key === "Enter") {
      setSelectedId(element.getAttribute("data-id"));
      setSettingsOpen(false);
      setTimeout(() => {
        const first = panelRef.current && panelRef.current.querySelector("input, select, textarea, button");
        (first || panelRef.current)?.focus();
      }, 0);
    }
  }, []);

  // A node reached with Tab becomes the only selected one, so Delete and the panel act on it.
  const onFocus = useCallback(
    (event) => {
      const element = event.target;
      if (!element.classList || !element.classList.contains("react-flow__node")) return;
      const id = element.getAttribute("data-id");
      setNodes((all) => all.map((n) => (n.selected === (n.id === id) ? n : { ...n, selected: n.id === id })));
      setSelectedId(id);
      setSettingsOpen(false);
    },
    [setNodes],
  );

  const onSelectionChange = useCallback(({ nodes: picked }) => {
    if (picked.length === 1) {
      setSelectedId(picked[0].id);
      setSettingsOpen(false);
    }
  }, []);

  // Errors naming an activity on the canvas go on it; the rest (the journey's own members, or an
  // activity id the canvas does not have) are listed above the canvas.
  const showErrors = useCallback(
    (errors) => {
      const onCanvas = new Set(nodes.map((n) => n.id));
      const byActivity = {};
      const general = [];
      const journeyWide = [];
      for (const [given, message] of errors || []) {
        // Schedule, Limits, QuietTime… go next to their field in the Journey settings panel.
        if (!given && isSettingsError(message)) {
          journeyWide.push(message);
          continue;
        }
        // The entry node stands for StartCondition and StartActivity: their errors go on it.
        const activity = !given && /^Start(Condition|Activity)\b/.test(message) ? ENTRY : given;
        if (activity && onCanvas.has(activity)) {
          byActivity[activity] = byActivity[activity] ? `${byActivity[activity]} ${message}` : message;
        } else general.push(given ? `Activity ${given}: ${message}` : message);
      }
      setNodes((all) => all.map((n) => ({ ...n, data: { ...n.data, error: byActivity[n.id] || undefined } })));
      setGeneralErrors(general);
      setSettingsErrors(journeyWide);
      if (journeyWide.length) setSettingsOpen(true);
      return (errors || []).length;
    },
    [nodes, setNodes],
  );

  // What was last saved (or loaded): leaving the page with other changes asks first.
  const savedRef = useRef(null);
  useEffect(() => {
    const current = () => JSON.stringify(toDefinition(base, name, nodes, edges));
    if (savedRef.current === null) savedRef.current = current();
    const warn = (event) => {
      if (!readOnly && savedRef.current !== current()) {
        event.preventDefault();
        event.returnValue = "";
      }
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [base, name, nodes, edges, readOnly]);

  const save = useCallback(async () => {
    const { definition, layout } = toDefinition(base, name, nodes, edges);
    setBusy(true);
    const result = await postJSON(page, page.urls.save, { definition, layout });
    setBusy(false);
    if (!result.ok) {
      const count = showErrors(result.payload.errors || [["", result.payload.message || "Not saved."]]);
      setStatus({ text: `Not saved: ${count} problem(s), shown on the activities or in Journey settings.`, kind: "error" });
      return null;
    }
    showErrors([]);
    savedRef.current = JSON.stringify({ definition, layout });
    if (result.payload.url && !page.journeyId) {
      window.location.assign(result.payload.url);
      return null;
    }
    setStatus({ text: "Saved.", kind: "ok" });
    refreshOutline();
    return result.payload;
  }, [page, base, name, nodes, edges, showErrors]);

  const changeState = useCallback(
    async (next, verb) => {
      if (next === "ACTIVE" && state === "DRAFT") {
        const saved = await save();
        if (!saved) return;
      }
      setBusy(true);
      const result = await postJSON(page, page.urls.state, { State: next });
      setBusy(false);
      if (!result.ok) {
        const count = showErrors(result.payload.errors || [["", result.payload.message || "Not changed."]]);
        setStatus({ text: `Not ${verb}: ${count} problem(s), shown on the activities or in Journey settings.`, kind: "error" });
        return;
      }
      showErrors([]);
      setState(result.payload.state);
      setStatus({ text: `Journey ${verb}.`, kind: "ok" });
    },
    [page, state, save, showErrors],
  );

  // Live metrics once the journey runs: polled every 10 seconds.
  useEffect(() => {
    if (!page.urls.metrics || state === "DRAFT") return undefined;
    let stopped = false;
    const poll = async () => {
      try {
        const response = await fetch(page.urls.metrics, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok || stopped) return;
        const payload = await response.json();
        setMetricsNote(payload.available ? "" : payload.message || "");
        const per = payload.activities || {};
        setNodes((all) => all.map((n) => (per[n.id] ? { ...n, data: { ...n.data, metrics: per[n.id] } } : n)));
      } catch (_e) {
        /* the next poll tries again */
      }
    };
    poll();
    const timer = setInterval(poll, 10000);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [page, state, setNodes]);

  const styledEdges = useMemo(
    () =>
      edges.map((e) => {
        const source = nodes.find((n) => n.id === e.source);
        const output = source && outputsOf(source.data.kind, source.data.config).find((o) => o.id === e.sourceHandle);
        const label = output?.label || "";
        return { ...e, label, markerEnd: { type: MarkerType.ArrowClosed }, ariaLabel: `From ${e.source}${label ? ` (${label})` : ""} to ${e.target}` };
      }),
    [edges, nodes],
  );

  const ariaNodes = useMemo(
    () =>
      nodes.map((n) => ({
        ...n,
        ariaLabel: `${n.id === ENTRY ? "Journey entry" : `${KINDS[n.data.kind]?.label || n.data.kind} activity ${n.id}`}${n.data.error ? `, error: ${n.data.error}` : ""}`,
        deletable: n.id !== ENTRY && !readOnly,
      })),
    [nodes, readOnly],
  );

  return (
    <div className="je-editor">
      <div className="je-toolbar">
        <div className="je-name">
          <label htmlFor="je-name">Journey name</label>
          <input id="je-name" type="text" value={name} maxLength={150} disabled={readOnly} onChange={(e) => setName(e.target.value)} />
        </div>
        <span className={`badge je-state je-state-${state.toLowerCase()}`} aria-label={`State: ${STATE_LABELS[state] || state}`}>
          {STATE_LABELS[state] || state}
        </span>
        <button
          type="button"
          ref={settingsButton}
          className="button-secondary je-settings-button"
          aria-expanded={settingsOpen}
          aria-controls="je-settings"
          onClick={() => openSettings(!settingsOpen)}
        >
          Journey settings
          {settingsErrors.length > 0 && <span className="je-problem-count"> ({settingsErrors.length} problem{settingsErrors.length > 1 ? "s" : ""})</span>}
        </button>
        {page.canEdit && (
          <div className="je-actions">
            {state === "DRAFT" && (
              <>
                <button type="button" onClick={save} disabled={busy}>Save</button>
                {page.journeyId && <button type="button" onClick={() => changeState("ACTIVE", "published")} disabled={busy}>Publish</button>}
              </>
            )}
            {state === "ACTIVE" && <button type="button" className="button-secondary" onClick={() => changeState("PAUSED", "paused")} disabled={busy}>Pause</button>}
            {state === "PAUSED" && <button type="button" onClick={() => changeState("ACTIVE", "resumed")} disabled={busy}>Resume</button>}
            {["ACTIVE", "PAUSED"].includes(state) && (
              <button type="button" className="button-danger" onClick={() => window.confirm("Cancel this journey? No one new enters; it cannot be restarted.") && changeState("CANCELLED", "cancelled")} disabled={busy}>
                Cancel journey
              </button>
            )}
          </div>
        )}
      </div>
      <p className={`je-status je-status-${status.kind}`} role="status" aria-live="polite">{status.text}</p>
      {generalErrors.length > 0 && (
        <div className="je-general-errors" role="alert">
          <ul>{generalErrors.map((m, i) => <li key={i}>{m}</li>)}</ul>
        </div>
      )}
      {readOnly && page.canEdit && state !== "DRAFT" && (
        <p className="je-hint">This journey is {(STATE_LABELS[state] || state).toLowerCase()}: its activities can no longer be changed.</p>
      )}
      {metricsNote && <p className="je-metrics-note">{metricsNote}</p>}
      <div className={`je-body${readOnly ? " je-body-readonly" : ""}`}>
        {!readOnly && (
          <nav className="je-palette" aria-label="Activity types">
            <h2>Add an activity</h2>
            <p className="je-hint">Drag onto the canvas, or press the button to add it.</p>
            <ul>
              {PALETTE.map((kind) => (
                <li key={kind}>
                  <button
                    type="button"
                    className={`je-palette-item je-kind-${kind.toLowerCase()}`}
                    data-node-type={kind}
                    draggable
                    onDragStart={(e) => {
                      e.dataTransfer.setData(DRAG_TYPE, kind);
                      e.dataTransfer.effectAllowed = "copy";
                    }}
                    onClick={() => addActivity(kind)}
                  >
                    {KINDS[kind].label}
                  </button>
                </li>
              ))}
            </ul>
          </nav>
        )}
        <div className="je-canvas" ref={wrapper} onDrop={onDrop} onDragOver={onDragOver} onKeyDown={onKeyDown} onFocus={onFocus}>
          <ReactFlow
            nodes={ariaNodes}
            edges={styledEdges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            isValidConnection={isValidConnection}
            onSelectionChange={onSelectionChange}
            onNodesDelete={(deleted) => deleted.some((n) => n.id === selectedId) && setSelectedId(null)}
            nodesDraggable={!readOnly}
            nodesConnectable={!readOnly}
            elementsSelectable
            deleteKeyCode={readOnly ? null : ["Delete", "Backspace"]}
            defaultViewport={{ x: 0, y: 0, zoom: 1 }}
            minZoom={0.2}
          >
            <Background />
            <Controls showInteractive={false} />
          </ReactFlow>
        </div>
        {settingsOpen ? (
          <SettingsPanel
            settings={settings}
            setSettings={setSettings}
            errors={settingsErrors}
            readOnly={readOnly}
            timezones={page.timezones || ["UTC"]}
            panelRef={panelRef}
            close={() => {
              setSettingsOpen(false);
              settingsButton.current?.focus();
            }}
          />
        ) : (
        <Panel
          node={selected}
          nodes={nodes}
          edges={edges}
          page={page}
          readOnly={readOnly}
          panelRef={panelRef}
          setConfig={(id, config) => setNodeData(id, () => ({ config }))}
          setDescription={(id, text) =>
            setNodeData(id, (d) => {
              const extra = { ...(d.extra || {}) };
              if (text) extra.Description = text;
              else delete extra.Description;
              return { extra };
            })
          }
          connect={connect}
          remove={remove}
          openSettings={() => openSettings(true)}
          close={() => {
            const id = selectedId;
            setSelectedId(null);
            const element = id && wrapper.current.querySelector(`.react-flow__node[data-id="${id}"]`);
            element?.focus();
          }}
        />
        )}
      </div>
    </div>
  );
}

function mount() {
  const root = document.getElementById("journey-editor");
  const data = document.getElementById("journey-data");
  if (!root || !data) return;
  const page = JSON.parse(data.textContent);
  root.classList.add("je-mounted");
  createRoot(root).render(
    <ReactFlowProvider>
      <Editor page={page} />
    </ReactFlowProvider>,
  );
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
else mount();
