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
// With Name ticked the server reminds everyone without MFA whatever rows are ticked: the
// row boxes stay out of the submission, so a large org's form stays small.
document.addEventListener("formdata", function (event) {
  var form = event.target;
  var all = form instanceof HTMLFormElement
    ? form.querySelector('input[data-selects="without-mfa"]') : null;
  if (all instanceof HTMLInputElement && all.checked) {
    event.formData.delete("user");
  }
}, true);
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
