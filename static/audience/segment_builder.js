// The segment builder's live estimate. htmx posts the builder when it receives the "estimate" event
// (hx-trigger="estimate delay:400ms"); this script says when: a key that changed a field's value, or
// a change made by anything but a structural control (adding or removing a group or a dimension
// posts the form itself). htmx trigger filters would do the same with eval(), which the pages'
// Content-Security-Policy forbids.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const builder = document.getElementById("builder");
  if (!builder || !builder.hasAttribute("hx-post") || typeof window.htmx === "undefined") {
    return;
  }
  const seen = new WeakMap();
  const estimate = () => window.htmx.trigger(builder, "estimate");
  builder.addEventListener("focusin", (event) => {
    if (event.target.matches("input, textarea") && !seen.has(event.target)) {
      seen.set(event.target, event.target.value);
    }
  });
  builder.addEventListener("keyup", (event) => {
    const field = event.target;
    if (!field.matches("input, textarea") || seen.get(field) === field.value) {
      return;
    }
    seen.set(field, field.value);
    estimate();
  });
  builder.addEventListener("change", (event) => {
    if (!event.target.matches("[data-structure]")) {
      estimate();
    }
  });
});
