// The customer list: "select all" for bulk actions. Loaded as a file (strict CSP: no inline script).
(function () {
  "use strict";

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box || !box.matches || !box.matches("input[data-fincrm-select-all]")) {
      return;
    }
    var name = box.getAttribute("data-fincrm-select-all");
    var form = box.form || document;
    form.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (item) {
      item.checked = box.checked;
    });
  });
})();
