// The console's only script: the overview refreshes itself, and a replay of many dead
// letters posts them one at a time with a progress bar. Every page works without it.
"use strict";

function csrf() {
  return document.body.dataset.csrf || "";
}

function refreshOverview() {
  const box = document.getElementById("overview");
  if (!box) return;
  setInterval(async () => {
    const answer = await fetch(box.dataset.refresh, {
      headers: { Accept: "text/html" },
      credentials: "same-origin",
    });
    if (answer.ok) box.innerHTML = await answer.text();  // our own server-rendered fragment
  }, 15000);
}

function selectAll() {
  const all = document.getElementById("select-all");
  if (!all) return;
  all.addEventListener("change", () => {
    document.querySelectorAll('input[name="delivery"]').forEach((box) => {
      box.checked = all.checked;
    });
  });
}

function replayWithProgress() {
  const formEl = document.getElementById("replay-form");
  if (!formEl) return;
  formEl.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = [...formEl.querySelectorAll('input[name="delivery"]:checked')];
    const bar = document.getElementById("replay-progress");
    const status = document.getElementById("replay-status");
    if (!chosen.length) {
      status.textContent = "0";
      return;
    }
    const reason = formEl.querySelector('input[name="reason"]').value;
    bar.hidden = false;
    bar.max = chosen.length;
    bar.value = 0;
    let done = 0;
    const failures = [];
    for (const box of chosen) {
      const body = new URLSearchParams({ delivery: box.value, reason, csrf: csrf() });
      const answer = await fetch(formEl.action, {
        method: "POST",
        body,
        headers: { Accept: "application/json", "X-CSRF-Token": csrf() },
        credentials: "same-origin",
      });
      const result = await answer.json().catch(() => ({}));
      if (answer.ok && !(result.failures || []).length) done += 1;
      else failures.push(box.value + ": " + ((result.failures || [])[0]?.error || result.message || answer.status));
      bar.value += 1;
      status.textContent = `${bar.value} / ${chosen.length}`;
    }
    if (failures.length) {
      status.textContent += " — " + failures.join("; ");
    } else {
      window.location = `${formEl.action.replace(/\/replay$/, "")}?done=replayed&count=${done}`;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  refreshOverview();
  selectAll();
  replayWithProgress();
});
