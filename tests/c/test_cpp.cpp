// The header compiles as C++ and the API is usable from C++ (g++ -Wall -Wextra -Werror).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "circuit.h"

namespace {

int failures = 0;
int count = 0;

void check(bool ok, const std::string &what) {
    ++count;
    std::printf("%s %d - %s\n", ok ? "ok" : "not ok", count, what.c_str());
    if (!ok) ++failures;
}

struct ConfigDeleter {
    void operator()(circuit_config *c) const { circuit_config_free(c); }
};

class Breaker {
  public:
    explicit Breaker(uint32_t threshold) {
        std::unique_ptr<circuit_config, ConfigDeleter> config(circuit_config_new());
        circuit_config_set_failure_threshold(config.get(), threshold);
        circuit_config_set_name(config.get(), "cpp");
        status_ = circuit_create(config.get(), &handle_);
    }
    ~Breaker() { circuit_destroy(handle_); }
    Breaker(const Breaker &) = delete;
    Breaker &operator=(const Breaker &) = delete;

    circuit_status status() const { return status_; }

    template <typename F>
    bool call(F &&f) {
        circuit_permit permit{};
        if (circuit_allow(handle_, &permit, nullptr) != CIRCUIT_OK) return false;
        if (f()) {
            circuit_record_success(handle_, &permit);
        } else {
            circuit_record_failure(handle_, &permit);
        }
        return true;
    }

    circuit_breaker_state state() const {
        circuit_breaker_state s = CIRCUIT_STATE_CLOSED;
        circuit_state(handle_, &s);
        return s;
    }

    circuit_breaker handle() const { return handle_; }

  private:
    circuit_breaker handle_ = 0;
    circuit_status status_ = CIRCUIT_OK;
};

}  // namespace

int main() {
    Breaker breaker(2);
    check(breaker.status() == CIRCUIT_OK, "created from C++");
    std::vector<std::string> seen;
    circuit_on_transition(
        breaker.handle(),
        [](void *userdata, circuit_breaker, const circuit_transition *t) {
            static_cast<std::vector<std::string> *>(userdata)->push_back(circuit_reason_name(t->reason));
        },
        &seen, nullptr);
    check(breaker.call([] { return true; }), "a successful call");
    breaker.call([] { return false; });
    breaker.call([] { return false; });
    check(breaker.state() == CIRCUIT_STATE_OPEN, "two failures open it");
    check(!breaker.call([] { return true; }), "open rejects");
    check(seen.size() == 1 && seen[0] == "failure_threshold", "a lambda listener saw the transition");
    check(std::string(circuit_version()) == CIRCUIT_VERSION_STRING, "version");
    std::printf("1..%d\n", count);
    return failures == 0 ? 0 : 1;
}
