// Placeholder until the layers land (keeps the nn target non-empty).
namespace tg::nn {}
