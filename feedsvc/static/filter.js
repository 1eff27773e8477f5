// The feed directory's filter, narrowing the rows as a reader types. Without this script the
// form sends ?q= and the server hides the rows it leaves out (pages.feeds); the rule is the
// same on both sides: every word typed, folded as directory.fold folds names (NFKC, lower
// case), occurs in the row's data-key. The server renders every row, so this script can
// widen a filter that came in the address.
(function () {
  "use strict";
  var form = document.getElementById("filter");
  var box = document.getElementById("filter-q");
  if (!form || !box || !String.prototype.normalize) {
    return;
  }
  var status = document.getElementById("filter-status");
  var showAll = form.querySelector(".show-all");
  var groups = [];
  var total = 0;
  document.querySelectorAll("section[data-kind]").forEach(function (section) {
    var kind = section.getAttribute("data-kind");
    var rows = [];
    section.querySelectorAll("li.scope").forEach(function (row) {
      rows.push({element: row, key: row.getAttribute("data-key") || ""});
    });
    total += rows.length;
    groups.push({rows: rows, count: document.getElementById("count-" + kind),
                 none: section.querySelector(".no-match")});
  });

  function words(text) {
    return text.normalize("NFKC").toLowerCase().split(/\s+/).filter(Boolean);
  }

  function ofTotal(shown, all) {
    return shown === all ? all.toLocaleString("en") :
      shown.toLocaleString("en") + " of " + all.toLocaleString("en");
  }

  var pending = 0;

  function apply() {
    var wanted = words(box.value);
    var shown = 0;
    groups.forEach(function (group) {
      var matching = 0;
      group.rows.forEach(function (row) {
        var match = wanted.every(function (word) { return row.key.indexOf(word) !== -1; });
        if (row.element.hidden === match) {
          row.element.hidden = !match;
        }
        matching += match ? 1 : 0;
      });
      shown += matching;
      if (group.count) {
        group.count.textContent = "(" + ofTotal(matching, group.rows.length) + ")";
      }
      if (group.none) {
        group.none.hidden = matching > 0;
      }
    });
    if (showAll) {
      showAll.hidden = wanted.length === 0;
    }
    // Announced, and kept in the address, once typing pauses, not at every key.
    window.clearTimeout(pending);
    pending = window.setTimeout(function () {
      if (status) {
        status.textContent = wanted.length === 0 ? "" : ofTotal(shown, total) +
          " sections, topics and authors match \u201c" + box.value.trim() + "\u201d.";
      }
      remember();
    }, 500);
  }

  // The address keeps the filter, so a reload or a shared link shows the same rows.
  function remember() {
    var query = box.value.trim();
    var here = window.location;
    var address = here.pathname + (query ? "?q=" + encodeURIComponent(query) : "") + here.hash;
    if (address !== here.pathname + here.search + here.hash) {
      window.history.replaceState(null, "", address);
    }
  }

  box.addEventListener("input", apply);
  form.addEventListener("submit", function (event) {
    event.preventDefault(); // the rows are narrowed already
    apply();
  });
  if (showAll) {
    showAll.addEventListener("click", function (event) {
      event.preventDefault();
      box.value = "";
      apply();
      box.focus();
    });
  }
  apply(); // the browser may have restored the box's text on coming back to the page
})();
