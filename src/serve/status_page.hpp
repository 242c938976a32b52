#pragma once

namespace tiledet::serve {

// The HTML of the status page served at `/`.
const char* status_page_html();

}  // namespace tiledet::serve
