// Copy buttons of the feed directory. The page works without this script: each URL sits in a
// read-only field to select and copy by hand, and the buttons stay hidden.
(function () {
  "use strict";
  if (!navigator.clipboard || !window.isSecureContext) {
    return; // the Clipboard API needs a secure context (https, or localhost)
  }
  var status = document.getElementById("copy-status");

  function announce(text) {
    if (status) {
      status.textContent = text;
    }
  }

  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var label = button.querySelector(".copy-label");
    if (!field || !label) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(field.value).then(function () {
        label.textContent = "Copied";
        button.classList.add("done");
        announce("Copied " + field.value);
        window.setTimeout(function () {
          label.textContent = "Copy";
          button.classList.remove("done");
        }, 2000);
      }, function () {
        field.focus();
        field.select();
        announce("Copying was refused; the URL is selected, press Ctrl+C or Command+C.");
      });
    });
  });

  // A click in a URL field selects all of it, ready for a manual copy.
  document.querySelectorAll(".url-row input[readonly]").forEach(function (field) {
    field.addEventListener("focus", function () {
      field.select();
    });
  });
})();
