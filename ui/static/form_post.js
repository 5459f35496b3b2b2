// Submits the authorization response form (response_mode=form_post). An
// external file because the Content-Security-Policy forbids inline scripts.
document.getElementById("form-post").submit();
