// The side panel: the selected activity's settings, written straight into its Pinpoint members.
import React from "react";
import { ENTRY, KINDS, earlierMessages, outputsOf } from "./graph.js";

const MESSAGE_EVENTS = {
  EMAIL: [
    ["_email.open", "opened"],
    ["_email.click", "clicked"],
    ["_email.delivered", "was delivered"],
    ["_email.send", "was sent"],
    ["_email.hardbounce", "hard-bounced"],
    ["_email.softbounce", "soft-bounced"],
    ["_email.complaint", "complained"],
    ["_email.unsubscribe", "unsubscribed"],
  ],
  SMS: [
    ["_SMS.SUCCESS", "was delivered"],
    ["_SMS.FAILURE", "failed"],
    ["_SMS.OPTOUT", "opted out"],
  ],
};

const clone = (value) => JSON.parse(JSON.stringify(value ?? {}));

function Field({ id, label, hint, children }) {
  return (
    <div className="je-field">
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && <p className="je-hint">{hint}</p>}
    </div>
  );
}

// ISO-8601 durations the panel writes: P<n>D, PT<n>H, PT<n>M.
function parseDuration(value) {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(value || "");
  if (!m) return { amount: "", unit: "D" };
  if (m[1]) return { amount: m[1], unit: "D" };
  if (m[2]) return { amount: m[2], unit: "H" };
  if (m[3]) return { amount: m[3], unit: "M" };
  return { amount: "", unit: "D" };
}
const formatDuration = (amount, unit) => (amount === "" ? "" : unit === "D" ? `P${amount}D` : `PT${amount}${unit}`);

function WaitTimeFields({ idPrefix, value, onChange, disabled, optional }) {
  const wait = value || {};
  const mode = wait.WaitUntil ? "until" : wait.WaitFor ? "for" : optional ? "none" : "for";
  const { amount, unit } = parseDuration(wait.WaitFor);
  const setMode = (next) => {
    if (next === "for") onChange({ WaitFor: "P1D" });
    else if (next === "until") onChange({ WaitUntil: new Date(Date.now() + 86400000).toISOString().slice(0, 16) + ":00Z" });
    else onChange(null);
  };
  return (
    <>
      <Field id={`${idPrefix}-mode`} label={optional ? "Evaluate" : "Wait"}>
        <select id={`${idPrefix}-mode`} value={mode} disabled={disabled} onChange={(e) => setMode(e.target.value)}>
          {optional && <option value="none">Immediately</option>}
          <option value="for">{optional ? "After a duration" : "For a duration"}</option>
          <option value="until">Until a date and time</option>
        </select>
      </Field>
      {mode === "for" && (
        <div className="je-row">
          <Field id={`${idPrefix}-amount`} label="Duration">
            <input
              id={`${idPrefix}-amount`}
              type="number"
              min="1"
              value={amount}
              disabled={disabled}
              onChange={(e) => onChange({ WaitFor: formatDuration(e.target.value, unit) })}
            />
          </Field>
          <Field id={`${idPrefix}-unit`} label="Unit">
            <select id={`${idPrefix}-unit`} value={unit} disabled={disabled} onChange={(e) => onChange({ WaitFor: formatDuration(amount || "1", e.target.value) })}>
              <option value="D">days</option>
              <option value="H">hours</option>
              <option value="M">minutes</option>
            </select>
          </Field>
        </div>
      )}
      {mode === "until" && (
        <Field id={`${idPrefix}-until`} label="Until (UTC)">
          <input
            id={`${idPrefix}-until`}
            type="datetime-local"
            value={(wait.WaitUntil || "").slice(0, 16)}
            disabled={disabled}
            onChange={(e) => onChange({ WaitUntil: e.target.value ? `${e.target.value}:00Z` : "" })}
          />
        </Field>
      )}
    </>
  );
}

function conditionKind(condition) {
  if (condition.SegmentCondition) return "segment";
  if (condition.EventCondition) return "event";
  if (condition.segmentDimensions) return "attribute";
  return "";
}

function ConditionFields({ idPrefix, condition, onChange, disabled, page, messageActivities, kindOfActivity }) {
  const kind = conditionKind(condition);
  const setKind = (next) => {
    if (next === "segment") onChange({ SegmentCondition: { SegmentId: page.segments[0]?.id || "" } });
    else if (next === "attribute") onChange({ segmentDimensions: { Attributes: { "": { AttributeType: "INCLUSIVE", Values: [""] } } } });
    else if (next === "event") {
      const activity = messageActivities[0] || "";
      const type = (MESSAGE_EVENTS[kindOfActivity(activity)] || MESSAGE_EVENTS.EMAIL)[0][0];
      onChange({ EventCondition: { MessageActivity: activity, Dimensions: { EventType: { DimensionType: "INCLUSIVE", Values: [type] } } } });
    } else onChange({});
  };
  const attributes = condition.segmentDimensions?.Attributes || {};
  const [attrName] = Object.keys(attributes);
  const attr = attributes[attrName] || {};
  const setAttr = (name, type, value) =>
    onChange({ segmentDimensions: { Attributes: { [name]: { AttributeType: type, Values: [value] } } } });
  const event = condition.EventCondition || {};
  const eventType = event.Dimensions?.EventType?.Values?.[0] || "";
  const eventChoices = MESSAGE_EVENTS[kindOfActivity(event.MessageActivity)] || MESSAGE_EVENTS.EMAIL;
  return (
    <>
      <Field id={`${idPrefix}-kind`} label="Condition">
        <select id={`${idPrefix}-kind`} value={kind} disabled={disabled} onChange={(e) => setKind(e.target.value)}>
          <option value="">Choose…</option>
          <option value="segment">Is in a segment</option>
          <option value="attribute">Endpoint attribute</option>
          <option value="event">Message event of an earlier activity</option>
        </select>
      </Field>
      {kind === "segment" && (
        <Field id={`${idPrefix}-segment`} label="Segment">
          <select
            id={`${idPrefix}-segment`}
            value={condition.SegmentCondition.SegmentId || ""}
            disabled={disabled}
            onChange={(e) => onChange({ SegmentCondition: { SegmentId: e.target.value } })}
          >
            <option value="">Choose a segment…</option>
            {page.segments.map((s) => (
              <option key={s.id} value={s.id}>{s.name}</option>
            ))}
          </select>
        </Field>
      )}
      {kind === "attribute" && (
        <div className="je-row">
          <Field id={`${idPrefix}-attr`} label="Attribute">
            <input id={`${idPrefix}-attr`} type="text" value={attrName || ""} disabled={disabled} onChange={(e) => setAttr(e.target.value, attr.AttributeType || "INCLUSIVE", attr.Values?.[0] || "")} />
          </Field>
          <Field id={`${idPrefix}-op`} label="Is">
            <select id={`${idPrefix}-op`} value={attr.AttributeType || "INCLUSIVE"} disabled={disabled} onChange={(e) => setAttr(attrName || "", e.target.value, attr.Values?.[0] || "")}>
              <option value="INCLUSIVE">one of</option>
              <option value="EXCLUSIVE">none of</option>
              <option value="CONTAINS">contains</option>
            </select>
          </Field>
          <Field id={`${idPrefix}-value`} label="Value">
            <input id={`${idPrefix}-value`} type="text" value={attr.Values?.[0] || ""} disabled={disabled} onChange={(e) => setAttr(attrName || "", attr.AttributeType || "INCLUSIVE", e.target.value)} />
          </Field>
        </div>
      )}
      {kind === "event" && (
        <div className="je-row">
          <Field id={`${idPrefix}-activity`} label="Activity" hint={messageActivities.length ? "" : "No message activity leads here yet."}>
            <select
              id={`${idPrefix}-activity`}
              value={event.MessageActivity || ""}
              disabled={disabled}
              onChange={(e) => onChange({ EventCondition: { ...event, MessageActivity: e.target.value } })}
            >
              <option value="">Choose…</option>
              {messageActivities.map((id) => (
                <option key={id} value={id}>{id}</option>
              ))}
            </select>
          </Field>
          <Field id={`${idPrefix}-event`} label="Event">
            <select
              id={`${idPrefix}-event`}
              value={eventType}
              disabled={disabled}
              onChange={(e) =>
                onChange({ EventCondition: { ...event, Dimensions: { EventType: { DimensionType: "INCLUSIVE", Values: [e.target.value] } } } })
              }
            >
              {eventChoices.map(([value, label]) => (
                <option key={value} value={value}>{label}</option>
              ))}
            </select>
          </Field>
        </div>
      )}
    </>
  );
}

function TemplateFields({ kind, config, update, disabled, page, id }) {
  const templates = page.templates[kind] || [];
  const chosen = templates.find((t) => t.name === config.TemplateName);
  return (
    <>
      <Field id={`${id}-template`} label="Template" hint={templates.length ? "" : `No ${KINDS[kind].label} templates yet: create one under Templates.`}>
        <select id={`${id}-template`} value={config.TemplateName || ""} disabled={disabled} onChange={(e) => update({ ...config, TemplateName: e.target.value || undefined })}>
          <option value="">Choose a template…</option>
          {templates.map((t) => (
            <option key={t.name} value={t.name}>{t.name}</option>
          ))}
        </select>
      </Field>
      <Field id={`${id}-version`} label="Template version" hint="Empty: the version active when sent.">
        <input id={`${id}-version`} type="text" inputMode="numeric" value={config.TemplateVersion || ""} disabled={disabled} onChange={(e) => update({ ...config, TemplateVersion: e.target.value || undefined })} />
      </Field>
      {chosen && (
        <div className="je-preview" aria-label="Template preview">
          <p className="je-hint">Preview (active version {chosen.version})</p>
          {chosen.subject && <p><strong>{chosen.subject}</strong></p>}
          <p>{chosen.body}</p>
        </div>
      )}
    </>
  );
}

function ActivityFields({ node, update, disabled, page, nodes, edges }) {
  const { kind, config } = node.data;
  const id = `je-${node.id}`;
  const kindOfActivity = (activityId) => nodes.find((n) => n.id === activityId)?.data.kind;
  const messageActivities = earlierMessages(nodes, edges, node.id);
  const conditionProps = { disabled, page, messageActivities, kindOfActivity };
  if (kind === ENTRY) {
    const event = config.EventStartCondition;
    const mode = event ? "event" : "segment";
    const type = event?.EventFilter?.Dimensions?.EventType?.Values?.[0] || "";
    return (
      <>
        <Field id={`${id}-mode`} label="Participants enter">
          <select
            id={`${id}-mode`}
            value={mode}
            disabled={disabled}
            onChange={(e) =>
              update(
                e.target.value === "event"
                  ? { EventStartCondition: { EventFilter: { FilterType: "ENDPOINT", Dimensions: { EventType: { DimensionType: "INCLUSIVE", Values: [""] } } } } }
                  : { SegmentStartCondition: { SegmentId: "" } },
              )
            }
          >
            <option value="segment">From a segment</option>
            <option value="event">When an event occurs</option>
          </select>
        </Field>
        {mode === "segment" && (
          <Field id={`${id}-segment`} label="Entry segment">
            <select id={`${id}-segment`} value={config.SegmentStartCondition?.SegmentId || ""} disabled={disabled} onChange={(e) => update({ ...config, SegmentStartCondition: { SegmentId: e.target.value } })}>
              <option value="">Choose a segment…</option>
              {page.segments.map((s) => (
                <option key={s.id} value={s.id}>{s.name}</option>
              ))}
            </select>
          </Field>
        )}
        {mode === "event" && (
          <>
            <Field id={`${id}-event`} label="Event type">
              <input
                id={`${id}-event`}
                type="text"
                value={type}
                disabled={disabled}
                onChange={(e) =>
                  update({ EventStartCondition: { ...event, EventFilter: { ...event.EventFilter, Dimensions: { ...event.EventFilter?.Dimensions, EventType: { DimensionType: "INCLUSIVE", Values: [e.target.value] } } } } })
                }
              />
            </Field>
            <Field id={`${id}-event-segment`} label="Only endpoints in segment">
              <select
                id={`${id}-event-segment`}
                value={event.SegmentId || ""}
                disabled={disabled}
                onChange={(e) => {
                  const next = { ...event, SegmentId: e.target.value };
                  if (!e.target.value) delete next.SegmentId;
                  update({ EventStartCondition: next });
                }}
              >
                <option value="">Any endpoint</option>
                {page.segments.map((s) => (
                  <option key={s.id} value={s.id}>{s.name}</option>
                ))}
              </select>
            </Field>
          </>
        )}
      </>
    );
  }
  if (kind === "EMAIL" || kind === "SMS" || kind === "PUSH") {
    return <TemplateFields kind={kind} config={config} update={update} disabled={disabled} page={page} id={id} />;
  }
  if (kind === "CUSTOM") {
    return (
      <>
        <Field id={`${id}-uri`} label="Delivery URI" hint="An https webhook that receives the endpoints.">
          <input id={`${id}-uri`} type="url" value={config.DeliveryUri || ""} disabled={disabled} onChange={(e) => update({ ...config, DeliveryUri: e.target.value })} />
        </Field>
        <Field id={`${id}-data`} label="Custom data">
          <textarea id={`${id}-data`} rows="3" value={config.MessageConfig?.Data || ""} disabled={disabled} onChange={(e) => update({ ...config, MessageConfig: { Data: e.target.value } })} />
        </Field>
      </>
    );
  }
  if (kind === "Wait") {
    return <WaitTimeFields idPrefix={id} value={config.WaitTime} disabled={disabled} onChange={(w) => update({ ...config, WaitTime: w || {} })} />;
  }
  if (kind === "Holdout") {
    return (
      <Field id={`${id}-pct`} label="Held out (%)" hint="This share of participants leaves the journey here.">
        <input id={`${id}-pct`} type="number" min="0" max="100" value={config.Percentage ?? ""} disabled={disabled} onChange={(e) => update({ ...config, Percentage: e.target.value === "" ? undefined : Number(e.target.value) })} />
      </Field>
    );
  }
  if (kind === "RandomSplit") {
    const branches = config.Branches || [];
    const setBranches = (next) => update({ ...config, Branches: next });
    return (
      <fieldset className="je-fieldset">
        <legend>Paths (percentages add up to 100)</legend>
        {branches.map((b, i) => (
          <div className="je-row" key={i}>
            <Field id={`${id}-b${i}`} label={`Path ${i + 1} (%)`}>
              <input
                id={`${id}-b${i}`}
                type="number"
                min="0"
                max="100"
                value={b.Percentage ?? ""}
                disabled={disabled}
                onChange={(e) => setBranches(branches.map((x, j) => (j === i ? { ...x, Percentage: e.target.value === "" ? undefined : Number(e.target.value) } : x)))}
              />
            </Field>
          </div>
        ))}
        {!disabled && (
          <p className="je-buttons">
            <button type="button" className="button-small button-secondary" disabled={branches.length >= 5} onClick={() => setBranches([...branches, { Percentage: 0 }])}>Add a path</button>
            <button type="button" className="button-small button-secondary" disabled={branches.length <= 2} onClick={() => setBranches(branches.slice(0, -1))}>Remove the last path</button>
          </p>
        )}
      </fieldset>
    );
  }
  if (kind === "ConditionalSplit") {
    const condition = config.Condition || { Conditions: [] };
    const conditions = condition.Conditions || [];
    const setConditions = (next) => update({ ...config, Condition: { ...condition, Conditions: next } });
    return (
      <>
        <Field id={`${id}-op`} label="Yes when">
          <select id={`${id}-op`} value={condition.Operator || "ALL"} disabled={disabled} onChange={(e) => update({ ...config, Condition: { ...condition, Operator: e.target.value } })}>
            <option value="ALL">all conditions hold</option>
            <option value="ANY">any condition holds</option>
          </select>
        </Field>
        {conditions.map((c, i) => (
          <fieldset className="je-fieldset" key={i}>
            <legend>Condition {i + 1}</legend>
            <ConditionFields idPrefix={`${id}-c${i}`} condition={c} onChange={(next) => setConditions(conditions.map((x, j) => (j === i ? next : x)))} {...conditionProps} />
            {!disabled && (
              <button type="button" className="button-small button-secondary" onClick={() => setConditions(conditions.filter((_x, j) => j !== i))}>Remove condition {i + 1}</button>
            )}
          </fieldset>
        ))}
        {!disabled && (
          <p className="je-buttons">
            <button type="button" className="button-small button-secondary" onClick={() => setConditions([...conditions, {}])}>Add a condition</button>
          </p>
        )}
        <WaitTimeFields idPrefix={`${id}-eval`} optional value={config.EvaluationWaitTime} disabled={disabled} onChange={(w) => { const next = { ...config, EvaluationWaitTime: w }; if (!w) delete next.EvaluationWaitTime; update(next); }} />
      </>
    );
  }
  if (kind === "MultiCondition") {
    const branches = config.Branches || [];
    const setBranches = (next) => update({ ...config, Branches: next });
    return (
      <>
        {branches.map((b, i) => (
          <fieldset className="je-fieldset" key={i}>
            <legend>Branch {i + 1}</legend>
            <ConditionFields idPrefix={`${id}-b${i}`} condition={b.Condition || {}} onChange={(next) => setBranches(branches.map((x, j) => (j === i ? { ...x, Condition: next } : x)))} {...conditionProps} />
          </fieldset>
        ))}
        {!disabled && (
          <p className="je-buttons">
            <button type="button" className="button-small button-secondary" disabled={branches.length >= 4} onClick={() => setBranches([...branches, { Condition: {} }])}>Add a branch</button>
            <button type="button" className="button-small button-secondary" disabled={branches.length <= 1} onClick={() => setBranches(branches.slice(0, -1))}>Remove the last branch</button>
          </p>
        )}
        <WaitTimeFields idPrefix={`${id}-eval`} optional value={config.EvaluationWaitTime} disabled={disabled} onChange={(w) => { const next = { ...config, EvaluationWaitTime: w }; if (!w) delete next.EvaluationWaitTime; update(next); }} />
      </>
    );
  }
  return <p>This activity type is not supported by Engage; it is kept as it is.</p>;
}

// Where each output goes, as selects: connecting activities without a pointer.
function Connections({ node, nodes, edges, connect, disabled }) {
  const outputs = outputsOf(node.data.kind, node.data.config);
  const targets = nodes.filter((n) => n.id !== node.id && n.id !== ENTRY);
  return (
    <fieldset className="je-fieldset">
      <legend>Next activity</legend>
      {outputs.map((o) => {
        const current = edges.find((e) => e.source === node.id && e.sourceHandle === o.id);
        const fieldId = `je-${node.id}-to-${o.id}`;
        return (
          <Field key={o.id} id={fieldId} label={o.label ? `${o.label} →` : "Then"}>
            <select id={fieldId} value={current?.target || ""} disabled={disabled} onChange={(e) => connect(node.id, o.id, e.target.value)}>
              <option value="">End of the journey</option>
              {targets.map((t) => (
                <option key={t.id} value={t.id}>{t.id} ({KINDS[t.data.kind]?.label || t.data.kind})</option>
              ))}
            </select>
          </Field>
        );
      })}
    </fieldset>
  );
}

export function Panel({ node, nodes, edges, page, readOnly, setConfig, setDescription, connect, remove, close, panelRef, openSettings }) {
  if (!node) {
    return (
      <aside className="je-panel" aria-label="Activity settings" ref={panelRef} tabIndex={-1}>
        <p className="je-hint">Select an activity (click it, or Tab to it and press Enter) to configure it here.</p>
      </aside>
    );
  }
  const isEntry = node.id === ENTRY;
  const label = isEntry ? "Journey entry" : KINDS[node.data.kind]?.label || node.data.kind;
  return (
    <aside className="je-panel" aria-labelledby="je-panel-title" ref={panelRef} tabIndex={-1} onKeyDown={(e) => e.key === "Escape" && close()}>
      <h2 id="je-panel-title">
        {label}
        {!isEntry && <span className="je-hint"> · {node.id}</span>}
      </h2>
      {node.data.error && <p className="je-error" role="alert">{node.data.error}</p>}
      <ActivityFields node={node} update={(config) => setConfig(node.id, clone(config))} disabled={readOnly} page={page} nodes={nodes} edges={edges} />
      {!isEntry && (
        <Field id={`je-${node.id}-description`} label="Description">
          <input id={`je-${node.id}-description`} type="text" value={node.data.extra?.Description || ""} disabled={readOnly} onChange={(e) => setDescription(node.id, e.target.value)} />
        </Field>
      )}
      {isEntry && openSettings && (
        <p className="je-hint">
          The schedule, quiet time, limits and sending hours are in{" "}
          <button type="button" className="button-small button-secondary" onClick={openSettings}>Journey settings</button>
        </p>
      )}
      <Connections node={node} nodes={nodes} edges={edges} connect={connect} disabled={readOnly} />
      <p className="je-buttons">
        {!isEntry && !readOnly && (
          <button type="button" className="button-small button-danger" onClick={() => remove(node.id)}>Delete activity</button>
        )}
        <button type="button" className="button-small button-secondary" onClick={close}>Close</button>
      </p>
    </aside>
  );
}
