// Unmask controls ({% unmask_control %}): close the dialog, and hide a clear value again after
// its time (30 s). Loaded as a file: the CSP allows no inline script.
(function () {
  "use strict";
  if (window.fincrmUnmask) {
    return;
  }
  window.fincrmUnmask = true;

  function closeDialog(control) {
    control.querySelectorAll("[data-unmask-dialog], [data-unmask-backdrop]").forEach(function (node) {
      node.remove();
    });
    var show = control.querySelector("[data-unmask-show]");
    if (show) {
      show.focus();
    }
  }

  function hideAgain(control) {
    var value = control.querySelector("[data-unmask-value]");
    if (value) {
      value.textContent = control.getAttribute("data-unmask-masked") || "";
      value.classList.remove("fincrm-unmask-clear");
    }
    var badge = control.querySelector("[data-unmask-badge]");
    if (badge) {
      badge.remove();
    }
    var show = control.querySelector("[data-unmask-show]");
    if (show) {
      show.classList.remove("d-none");
    }
    control.removeAttribute("data-unmask-masked");
    control.removeAttribute("data-unmask-hide-after");
  }

  function arm(root) {
    var scope = root && root.querySelectorAll ? root : document;
    var controls = [];
    if (scope.matches && scope.matches("[data-unmask-hide-after]")) {
      controls.push(scope);
    }
    scope.querySelectorAll("[data-unmask-hide-after]").forEach(function (node) {
      controls.push(node);
    });
    controls.forEach(function (control) {
      if (control.fincrmUnmaskTimer) {
        return;
      }
      var seconds = parseInt(control.getAttribute("data-unmask-hide-after"), 10) || 30;
      control.fincrmUnmaskTimer = window.setTimeout(function () {
        hideAgain(control);
      }, seconds * 1000);
    });
    var field = scope.querySelector && scope.querySelector("[data-unmask-dialog] select, [data-unmask-dialog] textarea");
    if (field) {
      field.focus();
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target.closest && event.target.closest("[data-unmask-dismiss]");
    if (target) {
      closeDialog(target.closest("[data-unmask-control]"));
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      document.querySelectorAll("[data-unmask-control]").forEach(function (control) {
        if (control.querySelector("[data-unmask-dialog]")) {
          closeDialog(control);
        }
      });
    }
  });
  document.addEventListener("htmx:load", function (event) {
    arm(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    arm(document);
  });
})();
