// The dashboard's one script of its own (the CSP forbids inline script): small comforts only;
// every page works without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A form button is disabled while its form is sent, so a double click sends once.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement)) return;
    if (form.method.toLowerCase() !== "post" || form.hasAttribute("hx-post")) return;
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
      });
    }, 0);
  });
  // Back to a page from the browser's cache: its buttons work again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form button[type=submit]").forEach(function (button) {
      button.disabled = false;
    });
  });
  // Enter in a search box presses the Search button beside it, not the form's first button
  // (in the editor that is Save).
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (event.key !== "Enter" || !(box instanceof HTMLInputElement) || box.type !== "search") return;
    var button = box.parentElement && box.parentElement.querySelector("button[type=submit]");
    if (!button) return;
    event.preventDefault();
    button.click();
  });
  // Forms marked data-confirm="question" ask before they are sent.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form instanceof HTMLFormElement && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  }, true);
});
