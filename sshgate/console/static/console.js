// Comfort only: every form works without this file.
// The Name checkbox of User security settings also ticks every member without MFA.
"use strict";
document.addEventListener("change", function (event) {
  var box = event.target;
  if (!(box instanceof HTMLInputElement) || box.dataset.selects !== "without-mfa") {
    return;
  }
  var rows = box.form ? box.form.querySelectorAll('input[name="user"][data-mfa="off"]') : [];
  rows.forEach(function (row) { row.checked = box.checked; });
});
// Escape closes an open menu and gives focus back to its summary.
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") {
    return;
  }
  document.querySelectorAll("details.menu[open]").forEach(function (menu) {
    menu.open = false;
    var summary = menu.querySelector("summary");
    if (summary && menu.contains(document.activeElement)) {
      summary.focus();
    }
  });
});
