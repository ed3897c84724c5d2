// Small enhancements; every page works without this file.
"use strict";

document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

document.addEventListener("DOMContentLoaded", () => {
  if (!navigator.clipboard) {
    return;
  }
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      const label = button.firstChild.textContent;
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.firstChild.textContent = "Copied";
      } catch {
        button.firstChild.textContent = "Copy failed — select the text";
      }
      setTimeout(() => {
        button.firstChild.textContent = label;
      }, 2000);
    });
  }
});
