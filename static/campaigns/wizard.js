// The campaign wizard: show only the fields that apply to the choices made. Without this file
// every field shows, and the server ignores the ones that do not apply.
"use strict";

(() => {
  const chosen = (form, name) => {
    const checked = form.querySelector(`input[name="${name}"]:checked`);
    if (checked) {
      return checked.value;
    }
    const field = form.querySelector(`select[name="${name}"], input[name="${name}"]:not([type="radio"])`);
    return field ? field.value : "";
  };

  const update = (form) => {
    for (const element of form.querySelectorAll("[data-when]")) {
      const [name, values] = element.dataset.when.split(":");
      element.hidden = !values.split(" ").includes(chosen(form, name));
    }
  };

  document.addEventListener("DOMContentLoaded", () => {
    for (const form of document.querySelectorAll("form.wizard")) {
      update(form);
      form.addEventListener("change", () => update(form));
    }
  });
})();
