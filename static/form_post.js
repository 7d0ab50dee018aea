// Submits the response form to the client (OAuth 2.0 Form Post Response Mode).
document.getElementById("form-post").submit();
