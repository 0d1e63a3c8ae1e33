// The interviewer's desk: answers by number keys. A digit picks the answer showing that
// number in the question being asked (the one with the focus, else the first unanswered),
// and the next question is asked; digits typed in quick succession make one number (10 on a
// 0-10 scale). Typing in a text box is left alone. Without this script the page works as a
// plain form. Allowed by its hash in the page's Content-Security-Policy: any change here
// changes the hash, which the server computes from this file.
(function () {
  "use strict";
  var form = document.querySelector("form[data-desk]");
  if (!form) { return; }
  var questions = Array.prototype.slice.call(form.querySelectorAll("[data-question]"));
  var typed = "";
  var timer = null;

  function answered(question) {
    return question.querySelector("input:checked") !== null ||
      (question.querySelector("textarea") || {}).value;
  }
  function holding(element) {
    return element && element.closest ? element.closest("[data-question]") : null;
  }
  function asked() {
    var focused = holding(document.activeElement);
    if (focused) { return focused; }
    for (var i = 0; i < questions.length; i++) {
      if (!answered(questions[i])) { return questions[i]; }
    }
    return null;
  }
  function mark(question) {
    questions.forEach(function (other) { other.classList.toggle("asking", other === question); });
  }
  function ask(question) {
    mark(question);
    if (!question) {
      var submit = form.querySelector("button[type=submit]");
      if (submit) { submit.focus(); }
      return;
    }
    var field = question.querySelector("input:checked") ||
      question.querySelector("input, textarea");
    if (field) { field.focus({ preventScroll: true }); }
    question.scrollIntoView({ block: "nearest" });
  }
  function pick(question, key) {
    var input = question.querySelector('input[data-key="' + key + '"]');
    if (!input) { return; }
    if (input.type === "checkbox") {
      input.checked = !input.checked;
      input.focus({ preventScroll: true });
      return;
    }
    input.checked = true;
    ask(questions[questions.indexOf(question) + 1] || null);
  }
  function longer(question, prefix) {
    var inputs = question.querySelectorAll("input[data-key]");
    for (var i = 0; i < inputs.length; i++) {
      var key = inputs[i].getAttribute("data-key");
      if (key !== prefix && key.indexOf(prefix) === 0) { return true; }
    }
    return false;
  }
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.isComposing) { return; }
    if (!/^[0-9]$/.test(event.key)) { return; }
    var target = event.target;
    if (target.matches && target.matches("textarea, input[type=text], select")) { return; }
    var question = asked();
    if (!question || !question.querySelector("input[data-key]")) { return; }
    event.preventDefault();
    clearTimeout(timer);
    typed += event.key;
    var wanted = typed;
    if (longer(question, wanted)) {
      timer = setTimeout(function () { typed = ""; pick(question, wanted); }, 700);
      return;
    }
    typed = "";
    pick(question, wanted);
  });
  form.addEventListener("focusin", function (event) {
    var question = holding(event.target);
    if (question) { mark(question); }
  });
  document.body.classList.add("keys-on");
  var help = document.getElementById("keys-help");
  if (help) { help.hidden = false; }
  ask(asked());
})();
