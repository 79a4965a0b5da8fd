// The grading page's keyboard shortcuts and live total. Served as a file: the app's policy
// (script-src 'self') runs no inline script. The page works without it; this only saves keys.
(function () {
  "use strict";
  var form = document.getElementById("grade-form");
  var help = document.getElementById("shortcuts");

  function typing(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select" || target.isContentEditable) return true;
    return tag === "input" && ["checkbox", "radio", "button", "submit"].indexOf(target.type) < 0;
  }

  function total() {
    if (!form) return;
    var sum = 0;
    form.querySelectorAll("input[type=checkbox][data-points]").forEach(function (box) {
      if (box.checked) sum += parseFloat(box.dataset.points) || 0;
    });
    sum += parseFloat(form.elements.adjustment.value) || 0;
    var max = parseFloat(form.dataset.max);
    if (!isNaN(max)) sum = Math.min(sum, max);
    sum = Math.max(sum, 0);
    document.getElementById("live-points").textContent = String(Math.round(sum * 100) / 100);
  }

  function save() {
    if (!form) return;
    if (form.requestSubmit) form.requestSubmit(document.getElementById("save"));
    else form.submit();
  }

  function go(id) {
    var link = document.getElementById(id);
    if (link) window.location.assign(link.href);
  }

  function toggleHelp() {
    if (help) help.hidden = !help.hidden;
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      save();
      return;
    }
    if (event.key === "Escape") {
      if (typing(event.target)) event.target.blur();
      else if (help) help.hidden = true;
      return;
    }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (form && /^[1-9]$/.test(event.key)) {
      var box = form.querySelector('input[data-key="' + event.key + '"]');
      if (box) {
        event.preventDefault();
        box.checked = !box.checked;
        total();
      }
    } else if (event.key === "n") {
      go("next-student");
    } else if (event.key === "p") {
      go("prev-student");
    } else if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
    }
  });

  var helpButton = document.getElementById("help-button");
  if (helpButton) helpButton.addEventListener("click", toggleHelp);

  if (form) {
    form.addEventListener("change", total);
    form.addEventListener("input", total);
    form.querySelectorAll("button.template").forEach(function (button) {
      button.addEventListener("click", function () {
        var box = form.elements.comment;
        var text = button.dataset.comment;
        var start = box.selectionStart, end = box.selectionEnd;
        var before = box.value.slice(0, start), after = box.value.slice(end);
        var glue = before && !/\s$/.test(before) ? " " : "";
        box.value = before + glue + text + after;
        box.focus();
        box.selectionStart = box.selectionEnd = (before + glue + text).length;
      });
    });
    total();
  }
})();
