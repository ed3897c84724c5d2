// The "Journey settings" panel: the journey-wide WriteJourneyRequest members (schedule, local time,
// quiet time, segment refresh, limits, sending schedule with open hours and closed days), edited as
// Pinpoint's members and saved with the canvas. The definition service's errors for these members
// are shown next to the field they name.
import React from "react";

// The members this panel owns (the canvas owns Activities, StartActivity and StartCondition).
export const SETTINGS_MEMBERS = [
  "Schedule",
  "LocalTime",
  "QuietTime",
  "WaitForQuietTime",
  "RefreshFrequency",
  "RefreshOnSegmentUpdate",
  "Limits",
  "SendingSchedule",
  "OpenHours",
  "ClosedDays",
];
const CHANNELS = ["EMAIL", "SMS", "PUSH", "VOICE", "CUSTOM"];
const DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"];
const LIMITS = [
  ["DailyCap", "Messages per endpoint a day", "0 to 100; 0 means no cap."],
  ["TotalCap", "Messages per endpoint in the journey", "0 to 100; 0 means no cap."],
  ["EndpointReentryCap", "Times an endpoint may enter", "0 to 100; 0 means no cap."],
  ["MessagesPerSecond", "Messages per second", "1 to 20,000."],
];

const clone = (value) => JSON.parse(JSON.stringify(value ?? {}));
const isEmpty = (value) => value === undefined || value === null || value === "" || (typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 0);

// The panel's working state from a definition: the members as they are, with open hours and
// closed days flattened into rows (one per range).
export function settingsOf(definition) {
  const settings = {};
  for (const member of SETTINGS_MEMBERS) if (definition[member] !== undefined && definition[member] !== null) settings[member] = clone(definition[member]);
  const openRows = [];
  for (const [channel, days] of Object.entries(settings.OpenHours || {})) {
    for (const [day, ranges] of Object.entries(days || {})) {
      for (const r of ranges || []) openRows.push({ channel, day, StartTime: r.StartTime || "", EndTime: r.EndTime || "" });
    }
  }
  const closedRows = [];
  for (const [channel, rules] of Object.entries(settings.ClosedDays || {})) {
    for (const r of rules || []) closedRows.push({ channel, ...r });
  }
  delete settings.OpenHours;
  delete settings.ClosedDays;
  // A member with no range is kept as it was unless ranges are added; a flag that was false stays
  // false when unticked.
  const falseFlags = SETTINGS_MEMBERS.filter((m) => definition[m] === false);
  return {
    ...settings,
    openRows,
    closedRows,
    hadOpenHours: definition.OpenHours != null && openRows.length === 0,
    hadClosedDays: definition.ClosedDays != null && closedRows.length === 0,
    falseFlags,
  };
}

// Row i of a channel's day (OpenHours) or of a channel (ClosedDays): the index the service names.
function openIndex(rows, i) {
  return rows.slice(0, i).filter((r) => r.channel === rows[i].channel && r.day === rows[i].day).length;
}
function closedIndex(rows, i) {
  return rows.slice(0, i).filter((r) => r.channel === rows[i].channel).length;
}

// The members back in Pinpoint's shapes (empty ones left out), merged over the rest of `base`.
export function withSettings(base, settings) {
  const definition = clone(base);
  for (const member of SETTINGS_MEMBERS) delete definition[member];
  const { openRows, closedRows, hadOpenHours, hadClosedDays, falseFlags, ...members } = settings;
  for (const [member, value] of Object.entries(members)) {
    if (member === "Schedule" || member === "QuietTime" || member === "Limits") {
      const kept = Object.fromEntries(Object.entries(value || {}).filter(([, v]) => !isEmpty(v)));
      if (kept.TimeframeCap) {
        kept.TimeframeCap = Object.fromEntries(Object.entries(kept.TimeframeCap).filter(([, v]) => !isEmpty(v)));
        if (isEmpty(kept.TimeframeCap)) delete kept.TimeframeCap;
      }
      if (!isEmpty(kept)) definition[member] = kept;
    } else if (!isEmpty(value)) definition[member] = value;
  }
  if (openRows.length) {
    const hours = {};
    for (const r of openRows) {
      hours[r.channel] = hours[r.channel] || {};
      (hours[r.channel][r.day] = hours[r.channel][r.day] || []).push({ StartTime: r.StartTime, EndTime: r.EndTime });
    }
    definition.OpenHours = hours;
  } else if (hadOpenHours) definition.OpenHours = clone(base.OpenHours); // held no range: kept as it was
  if (closedRows.length) {
    const days = {};
    for (const { channel, ...rule } of closedRows) {
      const kept = Object.fromEntries(Object.entries(rule).filter(([k, v]) => !(k === "Name" && v === "")));
      (days[channel] = days[channel] || []).push(kept);
    }
    definition.ClosedDays = days;
  } else if (hadClosedDays) definition.ClosedDays = clone(base.ClosedDays);
  return definition;
}

// Whether a service error belongs to this panel: it names one of its members first.
export function isSettingsError(message) {
  const top = /^([A-Za-z]+)/.exec(message || "");
  return Boolean(top && SETTINGS_MEMBERS.includes(top[1]));
}

// The field an error message is about: its leading member path, shortened until a field shows it.
function errorKey(message, known) {
  const match = /^[A-Za-z]+(?:\.[A-Za-z0-9_]+|\[\d+\])*/.exec(message);
  let path = match ? match[0] : "";
  while (path) {
    if (known.has(path)) return path;
    const cut = Math.max(path.lastIndexOf("."), path.lastIndexOf("["));
    if (cut <= 0) break;
    path = path.slice(0, cut);
  }
  return known.has(path) ? path : "";
}

function Field({ id, label, hint, error, children }) {
  return (
    <div className={`je-field${error ? " je-field-invalid" : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && <p className="je-hint">{hint}</p>}
      {error && (
        <p className="je-error je-field-error" id={`${id}-error`} role="alert">
          {error}
        </p>
      )}
    </div>
  );
}

// "UTC+05:30" → "+05:30", "UTC-03" → "-03:00", "UTC" → "Z".
function offsetSuffix(zone) {
  const m = /^UTC([+-])(\d{2})(?::(\d{2}))?$/.exec(zone || "");
  return m ? `${m[1]}${m[2]}:${m[3] || "00"}` : "Z";
}
function offsetMinutes(zone) {
  const m = /^UTC([+-])(\d{2})(?::(\d{2}))?$/.exec(zone || "");
  return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] || 0)) : 0;
}

// A schedule timestamp as the datetime-local input shows it: the instant in the journey's zone.
function localValue(value, zone) {
  if (!value) return "";
  const at = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}${offsetSuffix(zone)}`);
  if (Number.isNaN(at)) return "";
  return new Date(at + offsetMinutes(zone) * 60000).toISOString().slice(0, 16);
}

export function SettingsPanel({ settings, setSettings, errors, readOnly, timezones, panelRef, close }) {
  const disabled = readOnly;
  const set = (member, value) => setSettings((s) => ({ ...s, [member]: value }));
  const setIn = (member, key, value) =>
    setSettings((s) => {
      const next = { ...(s[member] || {}) };
      if (isEmpty(value)) delete next[key];
      else next[key] = value;
      return { ...s, [member]: next };
    });
  // A flag unticked is left out, unless the journey had it false (kept as it was).
  const setFlag = (member, checked) => setSettings((s) => ({ ...s, [member]: checked ? true : s.falseFlags.includes(member) ? false : undefined }));
  const schedule = settings.Schedule || {};
  const zone = schedule.Timezone || "UTC";
  const limits = settings.Limits || {};
  const cap = limits.TimeframeCap || {};
  const quiet = settings.QuietTime || {};
  const number = (text) => (text === "" ? undefined : Number(text));

  const known = new Set(["", ...SETTINGS_MEMBERS, "Schedule.StartTime", "Schedule.EndTime", "Schedule.Timezone", "QuietTime.Start", "QuietTime.End"]);
  for (const [m] of LIMITS) known.add(`Limits.${m}`);
  ["Limits.EndpointReentryInterval", "Limits.TimeframeCap", "Limits.TimeframeCap.Cap", "Limits.TimeframeCap.Days"].forEach((k) => known.add(k));
  settings.openRows.forEach((r, i) => known.add(`OpenHours.${r.channel}.${r.day}[${openIndex(settings.openRows, i)}]`));
  settings.closedRows.forEach((r, i) => known.add(`ClosedDays.${r.channel}[${closedIndex(settings.closedRows, i)}]`));
  const byKey = {};
  for (const message of errors) {
    const key = errorKey(message, known);
    byKey[key] = byKey[key] ? `${byKey[key]} ${message}` : message;
  }
  const err = (key) => byKey[key];

  const timeInput = (id, member, key, label) => (
    <Field id={id} label={label} error={err(`${member}.${key}`)}>
      <input id={id} type="time" value={(settings[member] || {})[key] || ""} disabled={disabled} onChange={(e) => setIn(member, key, e.target.value)} />
    </Field>
  );
  const setOpen = (rows) => setSettings((s) => ({ ...s, openRows: rows }));
  const setClosed = (rows) => setSettings((s) => ({ ...s, closedRows: rows }));

  return (
    <aside id="je-settings" className="je-panel je-settings" aria-labelledby="je-settings-title" ref={panelRef} tabIndex={-1} onKeyDown={(e) => e.key === "Escape" && close()}>
      <h2 id="je-settings-title">Journey settings</h2>
      <p className="je-hint">Apply to the whole journey; saved with the canvas ({readOnly ? "read-only now" : "press Save"}).</p>
      {err("") && <p className="je-error" role="alert">{err("")}</p>}

      <fieldset className="je-fieldset">
        <legend>Schedule</legend>
        {err("Schedule") && <p className="je-error" role="alert">{err("Schedule")}</p>}
        <Field id="je-set-timezone" label="Time zone" hint="The start and end below are in this zone." error={err("Schedule.Timezone")}>
          <select id="je-set-timezone" value={schedule.Timezone || ""} disabled={disabled} onChange={(e) => setIn("Schedule", "Timezone", e.target.value)}>
            <option value="">UTC (not set)</option>
            {timezones.map((z) => (
              <option key={z} value={z}>{z}</option>
            ))}
          </select>
        </Field>
        {["StartTime", "EndTime"].map((member) => (
          <Field key={member} id={`je-set-${member}`} label={member === "StartTime" ? "Start" : "End"} error={err(`Schedule.${member}`)}>
            <input
              id={`je-set-${member}`}
              type="datetime-local"
              value={localValue(schedule[member], zone)}
              disabled={disabled}
              onChange={(e) => setIn("Schedule", member, e.target.value ? `${e.target.value}:00${offsetSuffix(zone)}` : "")}
            />
          </Field>
        ))}
      </fieldset>

      <fieldset className="je-fieldset">
        <legend>Time</legend>
        <label className="je-check">
          <input type="checkbox" checked={settings.LocalTime === true} disabled={disabled} onChange={(e) => setFlag("LocalTime", e.target.checked)} /> Use each endpoint's local time (LocalTime)
        </label>
        {err("LocalTime") && <p className="je-error" role="alert">{err("LocalTime")}</p>}
        <div className="je-row">
          {timeInput("je-set-quiet-start", "QuietTime", "Start", "Quiet time starts")}
          {timeInput("je-set-quiet-end", "QuietTime", "End", "Quiet time ends")}
        </div>
        {err("QuietTime") && <p className="je-error" role="alert">{err("QuietTime")}</p>}
        <label className="je-check">
          <input type="checkbox" checked={settings.WaitForQuietTime === true} disabled={disabled} onChange={(e) => setFlag("WaitForQuietTime", e.target.checked)} /> Hold messages until quiet time ends (WaitForQuietTime)
        </label>
        {err("WaitForQuietTime") && <p className="je-error" role="alert">{err("WaitForQuietTime")}</p>}
      </fieldset>

      <fieldset className="je-fieldset">
        <legend>Segment entry</legend>
        <Field id="je-set-refresh" label="Re-read the segment every" hint="An ISO-8601 duration of at least an hour (PT1H, P1D); segment entry only." error={err("RefreshFrequency")}>
          <input id="je-set-refresh" type="text" placeholder="PT1H" value={settings.RefreshFrequency || ""} disabled={disabled} onChange={(e) => set("RefreshFrequency", e.target.value || undefined)} />
        </Field>
        <label className="je-check">
          <input type="checkbox" checked={settings.RefreshOnSegmentUpdate === true} disabled={disabled} onChange={(e) => setFlag("RefreshOnSegmentUpdate", e.target.checked)} /> Also when the segment changes (RefreshOnSegmentUpdate)
        </label>
        {err("RefreshOnSegmentUpdate") && <p className="je-error" role="alert">{err("RefreshOnSegmentUpdate")}</p>}
      </fieldset>

      <fieldset className="je-fieldset">
        <legend>Limits</legend>
        {err("Limits") && <p className="je-error" role="alert">{err("Limits")}</p>}
        {LIMITS.map(([member, label, hint]) => (
          <Field key={member} id={`je-set-${member}`} label={label} hint={hint} error={err(`Limits.${member}`)}>
            <input id={`je-set-${member}`} type="number" value={limits[member] ?? ""} disabled={disabled} onChange={(e) => setIn("Limits", member, number(e.target.value))} />
          </Field>
        ))}
        <Field id="je-set-reentry" label="Re-entry interval" hint="ISO-8601 duration before an endpoint may enter again (PT12H, P7D)." error={err("Limits.EndpointReentryInterval")}>
          <input id="je-set-reentry" type="text" placeholder="P1D" value={limits.EndpointReentryInterval || ""} disabled={disabled} onChange={(e) => setIn("Limits", "EndpointReentryInterval", e.target.value)} />
        </Field>
        <div className="je-row">
          <Field id="je-set-tf-cap" label="Timeframe cap" hint="Messages per endpoint (0–100)…" error={err("Limits.TimeframeCap.Cap") || err("Limits.TimeframeCap")}>
            <input id="je-set-tf-cap" type="number" value={cap.Cap ?? ""} disabled={disabled} onChange={(e) => setIn("Limits", "TimeframeCap", { ...cap, Cap: number(e.target.value) })} />
          </Field>
          <Field id="je-set-tf-days" label="in days" hint="…within this many days (0–30)." error={err("Limits.TimeframeCap.Days")}>
            <input id="je-set-tf-days" type="number" value={cap.Days ?? ""} disabled={disabled} onChange={(e) => setIn("Limits", "TimeframeCap", { ...cap, Days: number(e.target.value) })} />
          </Field>
        </div>
      </fieldset>

      <fieldset className="je-fieldset">
        <legend>Sending schedule</legend>
        <label className="je-check">
          <input type="checkbox" checked={settings.SendingSchedule === true} disabled={disabled} onChange={(e) => setFlag("SendingSchedule", e.target.checked)} /> Send only in open hours, not on closed days (SendingSchedule; needs quiet time)
        </label>
        {err("SendingSchedule") && <p className="je-error" role="alert">{err("SendingSchedule")}</p>}
        <h3 className="je-subhead">Open hours</h3>
        <p className="je-hint">Per channel and day, up to 4 ranges a day.</p>
        {err("OpenHours") && <p className="je-error" role="alert">{err("OpenHours")}</p>}
        {settings.openRows.map((r, i) => {
          const change = (key, value) => setOpen(settings.openRows.map((x, j) => (j === i ? { ...x, [key]: value } : x)));
          const rowError = err(`OpenHours.${r.channel}.${r.day}[${openIndex(settings.openRows, i)}]`);
          return (
            <div className="je-range" key={i} role="group" aria-label={`Open hours ${i + 1}`}>
              <div className="je-row">
                <Field id={`je-open-${i}-channel`} label="Channel">
                  <select id={`je-open-${i}-channel`} value={r.channel} disabled={disabled} onChange={(e) => change("channel", e.target.value)}>
                    {CHANNELS.map((c) => <option key={c} value={c}>{c}</option>)}
                  </select>
                </Field>
                <Field id={`je-open-${i}-day`} label="Day">
                  <select id={`je-open-${i}-day`} value={r.day} disabled={disabled} onChange={(e) => change("day", e.target.value)}>
                    {DAYS.map((d) => <option key={d} value={d}>{d[0] + d.slice(1).toLowerCase()}</option>)}
                  </select>
                </Field>
              </div>
              <div className="je-row">
                <Field id={`je-open-${i}-start`} label="From">
                  <input id={`je-open-${i}-start`} type="time" value={r.StartTime} disabled={disabled} onChange={(e) => change("StartTime", e.target.value)} />
                </Field>
                <Field id={`je-open-${i}-end`} label="To">
                  <input id={`je-open-${i}-end`} type="time" value={r.EndTime} disabled={disabled} onChange={(e) => change("EndTime", e.target.value)} />
                </Field>
              </div>
              {rowError && <p className="je-error" role="alert">{rowError}</p>}
              {!disabled && (
                <button type="button" className="button-small button-secondary" onClick={() => setOpen(settings.openRows.filter((_x, j) => j !== i))}>Remove open hours {i + 1}</button>
              )}
            </div>
          );
        })}
        {!disabled && (
          <p className="je-buttons">
            <button type="button" className="button-small button-secondary" onClick={() => setOpen([...settings.openRows, { channel: "EMAIL", day: "MONDAY", StartTime: "09:00", EndTime: "17:00" }])}>Add open hours</button>
          </p>
        )}
        <h3 className="je-subhead">Closed days</h3>
        <p className="je-hint">Per channel, up to 20 named ranges.</p>
        {err("ClosedDays") && <p className="je-error" role="alert">{err("ClosedDays")}</p>}
        {settings.closedRows.map((r, i) => {
          const change = (key, value) => setClosed(settings.closedRows.map((x, j) => (j === i ? { ...x, [key]: value } : x)));
          const rowError = err(`ClosedDays.${r.channel}[${closedIndex(settings.closedRows, i)}]`);
          const plain = (v) => !v || /^\d{4}-\d\d-\d\dT\d\d:\d\d(:00)?$/.test(v);
          return (
            <div className="je-range" key={i} role="group" aria-label={`Closed days ${i + 1}`}>
              <div className="je-row">
                <Field id={`je-closed-${i}-channel`} label="Channel">
                  <select id={`je-closed-${i}-channel`} value={r.channel} disabled={disabled} onChange={(e) => change("channel", e.target.value)}>
                    {CHANNELS.map((c) => <option key={c} value={c}>{c}</option>)}
                  </select>
                </Field>
                <Field id={`je-closed-${i}-name`} label="Name">
                  <input id={`je-closed-${i}-name`} type="text" value={r.Name || ""} disabled={disabled} onChange={(e) => change("Name", e.target.value)} />
                </Field>
              </div>
              {["StartDateTime", "EndDateTime"].map((member) => (
                <Field key={member} id={`je-closed-${i}-${member}`} label={member === "StartDateTime" ? "From" : "To"}>
                  {plain(r[member]) ? (
                    <input id={`je-closed-${i}-${member}`} type="datetime-local" value={(r[member] || "").slice(0, 16)} disabled={disabled} onChange={(e) => change(member, e.target.value ? `${e.target.value}:00` : "")} />
                  ) : (
                    <input id={`je-closed-${i}-${member}`} type="text" value={r[member]} disabled={disabled} onChange={(e) => change(member, e.target.value)} />
                  )}
                </Field>
              ))}
              {rowError && <p className="je-error" role="alert">{rowError}</p>}
              {!disabled && (
                <button type="button" className="button-small button-secondary" onClick={() => setClosed(settings.closedRows.filter((_x, j) => j !== i))}>Remove closed days {i + 1}</button>
              )}
            </div>
          );
        })}
        {!disabled && (
          <p className="je-buttons">
            <button type="button" className="button-small button-secondary" onClick={() => setClosed([...settings.closedRows, { channel: "EMAIL", Name: "", StartDateTime: "", EndDateTime: "" }])}>Add closed days</button>
          </p>
        )}
      </fieldset>
      <p className="je-buttons">
        <button type="button" className="button-small button-secondary" onClick={close}>Close</button>
      </p>
    </aside>
  );
}
