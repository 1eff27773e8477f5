// Copy buttons of the feed directory, one after each feed URL. The page works without this
// script: a URL is plain text that wraps whole and that one click selects (site.css), and no
// button is on the page that could not work, so the buttons are made here.
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

  function span(className, text) {
    var element = document.createElement("span");
    element.className = className;
    element.textContent = text;
    return element;
  }

  // "Copy", and for a screen reader "Copy the RSS URL of Climate": the row's name and the
  // format's label name the button, as many rows hold an RSS URL.
  document.querySelectorAll(".scope").forEach(function (row) {
    var heading = row.querySelector("h3");
    var name = heading ? heading.textContent : "";
    row.querySelectorAll(".urls li").forEach(function (item) {
      var format = item.querySelector(".format");
      if (!format || !item.querySelector("code.url")) {
        return;
      }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "copy";
      button.appendChild(span("copy-label", "Copy"));
      button.appendChild(span("vh", " the " + format.textContent + " URL of " + name));
      item.appendChild(button);
    });
  });

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // One listener for every button: 2,000 topics make 6,000 of them.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.copy");
    var field = button && button.parentNode.querySelector("code.url");
    var label = button && button.querySelector(".copy-label");
    if (!field || !label) {
      return;
    }
    var url = field.textContent;
    navigator.clipboard.writeText(url).then(function () {
      label.textContent = "Copied";
      button.classList.add("done");
      announce("Copied " + url);
      window.setTimeout(function () {
        label.textContent = "Copy";
        button.classList.remove("done");
      }, 2000);
    }, function () {
      selectText(field);
      announce("Copying was refused; the URL is selected, press Ctrl+C or Command+C.");
    });
  });
})();
