// fincrm's own page behaviour. Loaded as a file: the CSP allows no inline script and no eval.
(function () {
  "use strict";

  // The CSRF cookie is HttpOnly, so the token comes from the page's meta tag.
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) {
      event.detail.headers["X-CSRFToken"] = token;
    }
  });

  // Do not replace the notifications menu while someone is reading it; the next poll will.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail && event.detail.elt;
    if (source && source.id === "fincrm-notifications-poll" &&
        document.querySelector(".fincrm-notifications .dropdown-menu.show")) {
      event.preventDefault();
    }
  });
})();
